"""The payload codec (workers/codec.py): AES-GCM round trip, key rotation, tampering, the
plaintext reading window, unknown key ids, and the keys read from settings."""

from __future__ import annotations

import os
import stat

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from domain.model import Actor, Role
from workers.codec import ensure_local_key_file, keyring_from_settings
from workers.errors import ConfigError
from workers.settings import Settings
from workflows.codec import (
    ENCODING,
    KEY_ID_FIELD,
    EncryptionCodec,
    Keyring,
    PayloadDecodeError,
    data_converter,
)

SECRET = "王小明 13812345678 洞庭街 7 号"


def plain(text: str = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def codec(ring: Keyring | None = None, *, plaintext: bool = False) -> EncryptionCodec:
    return EncryptionCodec(ring or Keyring.generate("k1"), plaintext_readable=plaintext)


async def test_a_payload_round_trips_and_its_ciphertext_holds_nothing_readable() -> None:
    c = codec()
    [sealed] = await c.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_FIELD] == b"k1"
    assert SECRET.encode() not in sealed.data and b"json/plain" not in sealed.data
    assert b"13812345678" not in sealed.SerializeToString()
    assert await c.decode([sealed]) == [plain()]


async def test_the_same_payload_encrypts_differently_every_time() -> None:
    c = codec()
    first, second = await c.encode([plain(), plain()])
    assert first.data != second.data


async def test_after_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts() -> None:
    old = Keyring.generate("2025-a")
    [before] = await codec(old).encode([plain("before")])
    rotated = old.with_new_active("2026-a")
    assert rotated.active == "2026-a" and set(rotated.keys) == {"2025-a", "2026-a"}
    c = codec(rotated)
    [after] = await c.encode([plain("after")])
    assert after.metadata[KEY_ID_FIELD] == b"2026-a"
    assert await c.decode([before, after]) == [plain("before"), plain("after")]
    # a process that holds only the retired key cannot read what the new one wrote
    with pytest.raises(PayloadDecodeError, match="2026-a"):
        await codec(old).decode([after])


async def test_tampered_ciphertext_fails_authentication() -> None:
    c = codec()
    [sealed] = await c.encode([plain()])
    flipped = bytearray(sealed.data)
    flipped[20] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(PayloadDecodeError, match="failed authentication"):
        await c.decode([tampered])
    truncated = Payload(metadata=dict(sealed.metadata), data=sealed.data[:10])
    with pytest.raises(PayloadDecodeError, match="too short"):
        await c.decode([truncated])


async def test_ciphertext_moved_under_another_key_id_fails() -> None:
    ring = Keyring({**Keyring.generate("a").keys, **Keyring.generate("b").keys}, "a")
    c = codec(ring)
    [sealed] = await c.encode([plain()])
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID_FIELD: b"b"}, data=sealed.data)
    with pytest.raises(PayloadDecodeError, match="failed authentication"):
        await c.decode([relabelled])


async def test_plaintext_is_read_only_while_the_setting_allows_it() -> None:
    ring = Keyring.generate("k1")
    assert await codec(ring, plaintext=True).decode([plain()]) == [plain()]
    with pytest.raises(PayloadDecodeError, match="PAYLOAD_PLAINTEXT_READABLE") as info:
        await codec(ring, plaintext=False).decode([plain()])
    assert SECRET not in str(info.value)


async def test_an_unknown_key_id_fails_clearly_and_names_the_keys_held() -> None:
    [sealed] = await codec(Keyring.generate("elsewhere")).encode([plain()])
    with pytest.raises(PayloadDecodeError) as info:
        await codec(Keyring.generate("ours")).decode([sealed])
    message = str(info.value)
    assert "'elsewhere'" in message and "ours" in message and "PAYLOAD_KEYS" in message
    assert SECRET not in message


async def test_the_converter_encrypts_values_and_failure_messages() -> None:
    converter = data_converter(codec())
    actor = Actor(id="staff-1", role=Role.STAFF, unit="grid-dongting-1")
    [sealed] = await converter.encode([{"note": SECRET, "actor": actor}])
    assert sealed.metadata["encoding"] == ENCODING and SECRET.encode() not in sealed.data
    assert (await converter.decode([sealed], [dict]))[0]["note"] == SECRET
    failure = Failure()
    await converter.encode_failure(ValueError(f"bad input {SECRET}"), failure)
    assert SECRET not in failure.message and SECRET not in str(failure)
    assert SECRET.encode() not in failure.SerializeToString()
    assert SECRET in str(await converter.decode_failure(failure))


def test_a_keyring_never_shows_its_keys() -> None:
    ring = Keyring.generate("k1")
    text = f"{ring!r} {codec(ring)!r}"
    assert "k1" in text and ring.serialize().split("=", 1)[1].strip() not in text


def test_keys_parse_from_the_setting_first_entry_encrypting() -> None:
    a, b = Keyring.generate("new"), Keyring.generate("old")
    ring = Keyring.parse(f"{a.as_setting()}, {b.as_setting()}")
    assert ring.active == "new" and ring.keys == {**a.keys, **b.keys}
    for bad, why in [
        ("k1", "id=base64key"),
        ("k1=???", "not base64"),
        ("k1=AAAA", "AES-256 needs 32"),
        ("", "no key"),
        (f"{a.as_setting()},{a.as_setting()}", "twice"),
        (f"bad id={a.as_setting().split('=', 1)[1]}", "key id"),
    ]:
        with pytest.raises(ValueError, match=why):
            Keyring.parse(bad)


def test_the_local_key_is_generated_once_with_mode_0600(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    first = keyring_from_settings(settings)
    path = tmp_path / "payload-keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring_from_settings(settings).keys == first.keys
    assert ensure_local_key_file(tmp_path) == path
    assert first.active.startswith("local-")


def test_a_key_file_others_can_read_is_refused(tmp_path) -> None:
    path = tmp_path / "keys"
    path.write_text(Keyring.generate("k1").serialize())
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        keyring_from_settings(Settings(payload_keys_file=path, _env_file=None))
    os.chmod(path, 0o600)
    assert keyring_from_settings(Settings(payload_keys_file=path, _env_file=None)).active == "k1"


def test_production_needs_keys_and_reads_no_plaintext_unless_told(tmp_path) -> None:
    prod = Settings(environment="production", data_dir=tmp_path, _env_file=None)
    with pytest.raises(ConfigError, match="PAYLOAD_KEYS_FILE"):
        keyring_from_settings(prod)
    assert not (tmp_path / "payload-keys").exists()
    assert prod.plaintext_readable is False
    assert Settings(_env_file=None).plaintext_readable is True
    assert (
        Settings(
            environment="production", payload_plaintext_readable=True, _env_file=None
        ).plaintext_readable
        is True
    )


def test_keys_in_the_environment_do_not_show_in_the_settings(monkeypatch) -> None:
    ring = Keyring.generate("env-key")
    monkeypatch.setenv("PAYLOAD_KEYS", ring.as_setting())
    settings = Settings(_env_file=None)
    assert keyring_from_settings(settings).keys == ring.keys
    assert ring.as_setting().split("=", 1)[1] not in repr(settings)
    with pytest.raises(ConfigError, match="only one"):
        keyring_from_settings(Settings(payload_keys_file="/x", _env_file=None))


async def test_a_large_payload_is_deflated_before_it_is_sealed_and_reads_back_whole():
    codec = EncryptionCodec(Keyring.generate("k1"), plaintext_readable=False)
    big = Payload(metadata={"encoding": b"json/plain"}, data=("路灯坏了，晚上很黑" * 400).encode())
    small = Payload(metadata={"encoding": b"json/plain"}, data=b'"short"')
    sealed_big, sealed_small = await codec.encode([big, small])
    assert sealed_big.metadata["compression"] == b"zlib"
    assert len(sealed_big.data) < len(big.data) // 4
    assert "compression" not in sealed_small.metadata
    assert await codec.decode([sealed_big, sealed_small]) == [big, small]


async def test_a_stripped_compression_marker_fails_authentication():
    codec = EncryptionCodec(Keyring.generate("k1"), plaintext_readable=False)
    (sealed,) = await codec.encode([Payload(data=b"x" * 5000)])
    stripped = Payload(
        metadata={k: v for k, v in sealed.metadata.items() if k != "compression"}, data=sealed.data
    )
    with pytest.raises(PayloadDecodeError):
        await codec.decode([stripped])


async def test_a_refusing_codec_hands_over_a_marker_instead_of_failing() -> None:
    import json as _json

    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"actor": "made up"}')
    with pytest.raises(PayloadDecodeError):
        await codec().decode([plain])  # a client: an error it can read
    (refused,) = await codec().refusing().decode([plain])  # a worker: a marker to refuse
    assert refused.metadata["encoding"] == b"json/plain"
    assert set(_json.loads(refused.data)) == {"refused"}
    assert b"made up" not in refused.data  # the reason names no content
    same = codec()
    (sealed,) = await same.encode([plain])
    (opened,) = await same.refusing().decode([sealed])
    assert opened == plain
