"""Encryption at rest of biometric data in the relational store.

Enrolment thumbnails, probe images and templates (embeddings, fingerprint search keys and
ISO/IEC 19794-2 records) are stored as AES-256-GCM ciphertexts: ``MAGIC || key id (8 bytes) ||
nonce (12) || ciphertext+tag``. Columns of type :class:`EncryptedBytes` encrypt on write and
decrypt on read with the :class:`Keyring` attached to the engine (:func:`attach`); a value
without the magic prefix (written before encryption was switched on) is read as it is and
re-encrypted by ``fieldid keys rotate``.

The keyring is a JSON file (``{"keys": [{"id": …, "key": base64}, …]}``, current key first,
older ones kept for reading until a rotation has re-encrypted every row) or the same JSON in
``FIELDID_DATA_KEYS``. The FAISS index files hold search vectors in the clear: keep the data
directory on an encrypted volume (docs/operations in the README).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary
from sqlalchemy.types import TypeDecorator

from fieldid.errors import StorageError

MAGIC = b"\x00FE1"
_KEY_ID = 8
_NONCE = 12
_ATTR = "_fieldid_keyring"


class DataKeyError(StorageError):
    code = "data_key_error"


@dataclass(frozen=True)
class DataKey:
    id: bytes  # 8 bytes
    key: bytes  # 32 bytes

    @classmethod
    def generate(cls) -> DataKey:
        return cls(secrets.token_bytes(_KEY_ID), AESGCM.generate_key(bit_length=256))


class Keyring:
    """The current key (encrypts) and older keys (decrypt only)."""

    def __init__(self, keys: list[DataKey]) -> None:
        if not keys:
            raise DataKeyError("A data keyring needs at least one key.")
        self.keys = list(keys)
        self._by_id = {k.id: AESGCM(k.key) for k in keys}
        self._current = keys[0]
        self._current_aead = self._by_id[keys[0].id]

    @property
    def current_id(self) -> bytes:
        return self._current.id

    def encrypt(self, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return MAGIC + self._current.id + nonce + self._current_aead.encrypt(nonce, bytes(plain), None)

    def decrypt(self, blob: bytes) -> bytes:
        blob = bytes(blob)
        if not blob.startswith(MAGIC):
            return blob  # written before encryption was on
        head = len(MAGIC)
        key_id, nonce = blob[head : head + _KEY_ID], blob[head + _KEY_ID : head + _KEY_ID + _NONCE]
        aead = self._by_id.get(key_id)
        if aead is None:
            raise DataKeyError(f"Stored data is encrypted with key {key_id.hex()}, which is not in the keyring.")
        try:
            return aead.decrypt(nonce, blob[head + _KEY_ID + _NONCE :], None)
        except InvalidTag:
            raise DataKeyError("Stored data failed authentication: wrong key or tampered data.") from None

    def key_of(self, blob: bytes | None) -> bytes | None:
        """The key id a stored value is encrypted with (None: not encrypted)."""
        if blob is None or not bytes(blob[: len(MAGIC)]) == MAGIC:
            return None
        return bytes(blob[len(MAGIC) : len(MAGIC) + _KEY_ID])

    # -- files -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": "fieldid-data-keys/1", "keys": [
            {"id": k.id.hex(), "key": base64.b64encode(k.key).decode()} for k in self.keys]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            body = json.loads(text)
            keys = [DataKey(bytes.fromhex(k["id"]), base64.b64decode(k["key"], validate=True))
                    for k in body["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataKeyError(f"The data keyring is not valid: {type(exc).__name__}.") from None
        if any(len(k.id) != _KEY_ID or len(k.key) != 32 for k in keys):
            raise DataKeyError("Data keys must be 32 bytes with 8-byte ids.")
        return cls(keys)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def load_keyring(path: Path, *, env: str | None, create: bool) -> Keyring:
    """The keyring from ``env`` (JSON) if set, else the file; ``create`` makes a new file with
    one fresh key when there is none (development and test; production refuses)."""
    if env:
        return Keyring.from_json(env)
    if path.is_file():
        return Keyring.from_json(path.read_text())
    if not create:
        raise DataKeyError(f"No data keyring: set FIELDID_DATA_KEYS or create {path} (`fieldid keys init`).")
    ring = Keyring([DataKey.generate()])
    ring.save(path)
    return ring


def attach(engine: Engine, keyring: Keyring | None) -> None:
    """Encrypt and decrypt EncryptedBytes columns of this engine's connections with ``keyring``."""
    setattr(engine.dialect, _ATTR, keyring)


class EncryptedBytes(TypeDecorator):
    """Bytes encrypted with the engine's keyring (plain when the engine has none)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        ring = getattr(dialect, _ATTR, None)
        if value is None or ring is None:
            return value
        return ring.encrypt(value)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        ring = getattr(dialect, _ATTR, None)
        if ring is None:
            if bytes(value[: len(MAGIC)]) == MAGIC:
                raise DataKeyError("Stored data is encrypted but no data keyring is configured.")
            return bytes(value)
        return ring.decrypt(value)
