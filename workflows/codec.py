"""Payload encryption: every payload our Temporal clients and workers write (workflow input,
signals, updates, activity and local-activity arguments and results, query results, memo,
failure details, failure messages and stack traces) is sealed with AES-256-GCM before it
leaves the process; the Temporal server stores only ciphertext. docs/security.md.

An encrypted payload:
  metadata  encoding = b"binary/encrypted", encryption-key-id = b"<key id>"
  data      12-byte random nonce || AES-GCM(key, nonce, the original Payload's protobuf bytes,
            associated data = b"demandflow-payload-v1:" + key id)
            (from 1 KB on, the bytes are deflated first: metadata compression = b"zlib")

A keyring holds several keys (all decrypt) and names one that encrypts (rotation). Where
keys come from (settings, the local stack's key file) is workers/codec.py's business; this
module is what every process shares, the API included. Payloads without the encryption marker (runs
recorded before encryption) are read only while PAYLOAD_PLAINTEXT_READABLE allows it.

Error messages here name key ids and payload positions, never payload content.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
# Payloads of 1 KB and more are deflated before they are sealed (marked `compression: zlib`):
# a need's intake result carries the whole policy (~25 KB of JSON, its vocabulary mostly),
# held in every cached run's history by the SDK and stored per need by the server.
COMPRESSION_FIELD = "compression"
COMPRESS_FROM = 1024
KEY_ID_FIELD = "encryption-key-id"
AAD_PREFIX = b"demandflow-payload-v1:"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LOCAL_KEY_FILE = "payload-keys"


class PayloadDecodeError(Exception):
    """A payload that cannot be read: unknown key id, failed authentication, or plaintext
    while plaintext is not readable. The message names the key id, never the content."""


@dataclass(frozen=True, repr=False)
class Keyring:
    """Key id → 32-byte AES key; `active` encrypts, every key decrypts."""

    keys: Mapping[str, bytes]
    active: str
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        for key_id, key in self.keys.items():
            if not KEY_ID.match(key_id):
                raise ValueError(f"key id {key_id!r} is not of the form [A-Za-z0-9._-]{{1,64}}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if self.active not in self.keys:
            raise ValueError(f"the encrypting key {self.active} is not in the keyring")
        self._ciphers.update({key_id: AESGCM(key) for key_id, key in self.keys.items()})

    def __repr__(self) -> str:  # never the keys themselves
        return f"Keyring(active={self.active!r}, ids={sorted(self.keys)!r})"

    @classmethod
    def generate(cls, key_id: str | None = None) -> Keyring:
        key_id = key_id or f"local-{secrets.token_hex(4)}"
        return cls({key_id: AESGCM.generate_key(bit_length=256)}, key_id)

    @classmethod
    def parse(cls, text: str, source: str = "PAYLOAD_KEYS") -> Keyring:
        """`id=base64key` entries separated by commas or lines (`#` starts a comment); the
        first entry encrypts, all decrypt."""
        entries: list[tuple[str, bytes]] = []
        chunks = (c for line in text.splitlines() for c in line.split("#", 1)[0].split(","))
        for chunk in chunks:
            entry = chunk.strip()
            if not entry:
                continue
            key_id, sep, encoded = entry.partition("=")
            if not sep:
                raise ValueError(f"{source}: an entry is not of the form id=base64key")
            key_id = key_id.strip()
            text64 = encoded.strip().replace("-", "+").replace("_", "/")
            try:
                key = base64.b64decode(text64 + "=" * (-len(text64) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{source}: the key of {key_id} is not base64") from None
            if key_id in dict(entries):
                raise ValueError(f"{source}: key id {key_id} appears twice")
            entries.append((key_id, key))
        if not entries:
            raise ValueError(f"{source}: no key")
        return cls(dict(entries), entries[0][0])

    def serialize(self) -> str:
        """The key-file text: the encrypting key first."""
        order = [self.active, *sorted(k for k in self.keys if k != self.active)]
        return "".join(f"{k}={base64.b64encode(self.keys[k]).decode()}\n" for k in order)

    def as_setting(self) -> str:
        """The PAYLOAD_KEYS value: entries separated by commas, the encrypting key first."""
        return ",".join(self.serialize().split())

    def with_new_active(self, key_id: str | None = None) -> Keyring:
        """Rotation: a fresh key encrypts from now on, the old ones still decrypt."""
        fresh = Keyring.generate(key_id)
        return Keyring({**fresh.keys, **self.keys}, fresh.active)

    def cipher(self, key_id: str) -> AESGCM | None:
        return self._ciphers.get(key_id)


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class EncryptionCodec(PayloadCodec):
    """AES-GCM payload codec (see the module docstring for the format)."""

    def __init__(
        self, keyring: Keyring, *, plaintext_readable: bool, refuse_in_place: bool = False
    ) -> None:
        self.keyring = keyring
        self.plaintext_readable = plaintext_readable
        self.refuse_in_place = refuse_in_place

    def __repr__(self) -> str:
        return (
            f"EncryptionCodec({self.keyring!r}, plaintext_readable={self.plaintext_readable}, "
            f"refuse_in_place={self.refuse_in_place})"
        )

    def refusing(self) -> EncryptionCodec:
        """The same keys, for a worker: a payload it cannot open becomes a `refused` marker
        instead of an error, so the workflow refuses it (a rejected update, a dropped signal,
        a start that fails at once) rather than retrying its task forever."""
        return EncryptionCodec(
            self.keyring, plaintext_readable=self.plaintext_readable, refuse_in_place=True
        )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(p, i) for i, p in enumerate(payloads)]

    def _open(self, payload: Payload, index: int) -> Payload:
        try:
            return self.decrypt(payload, index=index)
        except PayloadDecodeError as exc:
            if not self.refuse_in_place:
                raise
            return refused_payload(str(exc))

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.keyring.active
        cipher = self.keyring.cipher(key_id)
        assert cipher is not None
        nonce = os.urandom(NONCE_BYTES)
        raw = payload.SerializeToString()
        metadata = {"encoding": ENCODING, KEY_ID_FIELD: key_id.encode()}
        if len(raw) >= COMPRESS_FROM:
            packed = zlib.compress(raw, 6)
            if len(packed) < len(raw):
                raw, metadata[COMPRESSION_FIELD] = packed, b"zlib"
        sealed = cipher.encrypt(nonce, raw, _associated(key_id, metadata))
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(
        self, payload: Payload, *, index: int = 0, plaintext_readable: bool | None = None
    ) -> Payload:
        """The original payload. `plaintext_readable` overrides the codec's setting (the codec
        server hands plaintext back as it came: its caller already holds it)."""
        if not is_encrypted(payload):
            readable = self.plaintext_readable if plaintext_readable is None else plaintext_readable
            if not readable:
                raise PayloadDecodeError(
                    f"payload {index} is not encrypted and PAYLOAD_PLAINTEXT_READABLE is off"
                )
            return payload
        key_id = payload.metadata.get(KEY_ID_FIELD, b"").decode("ascii", errors="replace")
        cipher = self.keyring.cipher(key_id)
        if cipher is None:
            known = ", ".join(sorted(self.keyring.keys))
            raise PayloadDecodeError(
                f"payload {index} is encrypted with key id {key_id[:64]!r}, which this process "
                f"does not hold (it holds: {known}); add that key to PAYLOAD_KEYS(_FILE)"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + 16:
            raise PayloadDecodeError(f"payload {index} (key {key_id}) is too short to be sealed")
        try:
            plain = cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], _associated(key_id, payload.metadata)
            )
        except InvalidTag:
            raise PayloadDecodeError(
                f"payload {index} (key {key_id}) failed authentication: altered or corrupted"
            ) from None
        if payload.metadata.get(COMPRESSION_FIELD) == b"zlib":
            try:
                plain = zlib.decompress(plain)
            except zlib.error:
                raise PayloadDecodeError(
                    f"payload {index} (key {key_id}) does not inflate"
                ) from None
        inner = Payload()
        inner.ParseFromString(plain)
        return inner


REFUSED_FIELD = "refused"


def refused_payload(reason: str) -> Payload:
    """What a worker sees instead of a payload it cannot open: `{"refused": reason}` (the
    reason names keys and indexes, never content). workflows.messages.RefusedPayload reads it."""
    body = json.dumps({REFUSED_FIELD: reason[:300]}).encode()
    return Payload(metadata={"encoding": b"json/plain"}, data=body)


def _associated(key_id: str, metadata: Mapping[str, bytes]) -> bytes:
    """What the seal authenticates besides the data: the key id, and the compression marker
    when there is one (so a stripped or added marker fails authentication)."""
    marker = metadata.get(COMPRESSION_FIELD)
    return AAD_PREFIX + key_id.encode() + (b"|" + marker if marker else b"")


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic converter every process of ours shares, with `codec` on its payloads and
    failure messages and stack traces moved into (encoded) payloads too."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
