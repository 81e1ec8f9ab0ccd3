"""Where the payload keys come from: PAYLOAD_KEYS or PAYLOAD_KEYS_FILE, or for the local
stack a key generated once under DATA_DIR (`payload-keys`, mode 0600); and the codec and
converter each process builds from its settings. The codec itself is workflows/codec.py.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.converter import DataConverter

from workers.errors import ConfigError
from workflows.codec import (
    LOCAL_KEY_FILE,
    EncryptionCodec,
    Keyring,
    data_converter,
)

if TYPE_CHECKING:
    from workers.settings import Settings


# --- keys from settings -----------------------------------------------------------------------


def read_key_file(path: Path) -> Keyring:
    """A key file: readable by its owner only (0600 or 0400), `id=base64key` lines."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read PAYLOAD_KEYS_FILE {path} ({type(exc).__name__}); "
            "check the path and its permissions"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"payload key file {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
        )
    try:
        return Keyring.parse(text, source=str(path))
    except ValueError as exc:
        raise ConfigError(f"payload key file is invalid: {exc}") from None


def ensure_local_key_file(data_dir: Path) -> Path:
    """The local stack's key: generated once under the data dir, mode 0600, kept across runs.
    Safe when several processes start at once (written aside, then linked into place)."""
    path = data_dir / LOCAL_KEY_FILE
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    aside = data_dir / f".{LOCAL_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# demandflow payload keys of this local stack: never commit, never share\n")
            out.write(Keyring.generate().serialize())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(aside, path)
    finally:
        aside.unlink(missing_ok=True)
    return path


def keyring_from_settings(settings: Settings) -> Keyring:
    keys = settings.payload_keys.get_secret_value() if settings.payload_keys else None
    if keys and settings.payload_keys_file:
        raise ConfigError("both PAYLOAD_KEYS and PAYLOAD_KEYS_FILE are set; set only one")
    if keys:
        try:
            return Keyring.parse(keys)
        except ValueError as exc:
            raise ConfigError(f"setting PAYLOAD_KEYS is invalid: {exc}") from None
    if settings.payload_keys_file:
        return read_key_file(settings.payload_keys_file)
    if settings.environment == "production":
        raise ConfigError(
            "production needs payload keys: set PAYLOAD_KEYS_FILE (or PAYLOAD_KEYS) "
            "to the keyring shared by every worker and API process"
        )
    return read_key_file(ensure_local_key_file(settings.data_dir))


def codec_from_settings(settings: Settings) -> EncryptionCodec:
    return EncryptionCodec(
        keyring_from_settings(settings), plaintext_readable=settings.plaintext_readable
    )


def converter_from_settings(settings: Settings, *, worker: bool = False) -> DataConverter:
    """The encrypting converter; `worker`: one that refuses unopenable payloads in place."""
    codec = codec_from_settings(settings)
    return data_converter(codec.refusing() if worker else codec)
