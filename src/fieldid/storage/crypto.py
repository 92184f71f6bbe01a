"""Encryption at rest of biometric data in the relational store.

Enrolment thumbnails, probe images and templates (embeddings, fingerprint search keys and
ISO/IEC 19794-2 records) are stored as AES-256-GCM ciphertexts: ``MAGIC || key id (8 bytes) ||
nonce (12) || ciphertext+tag``. Columns of type :class:`EncryptedBytes` encrypt on write and
decrypt on read with the :class:`Keyring` attached to the engine (:func:`attach`); a value
without the magic prefix (written before encryption was switched on) is read as it is and
re-encrypted by ``fieldid keys rotate``.

The keyring is a JSON file (``{"keys": [{"id": …, "key": base64}, …]}``, current key first,
older ones kept for reading until a rotation has re-encrypted every row) or the same JSON in
``FIELDID_DATA_KEYS``.

Files (the FAISS index's vectors and graphs) are encrypted with the same keyring in a chunked
format, so a multi-gigabyte index is never copied whole in memory to encrypt it:
``FILE_MAGIC || key id (8) || nonce prefix (8)``, then records ``length (4, big-endian) ||
ciphertext+tag``; chunk ``i`` uses the nonce ``prefix || i`` (the top bit set on the last
chunk) and the header as associated data, so reordered, truncated or spliced files fail
authentication.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary
from sqlalchemy.types import TypeDecorator

from fieldid.errors import StorageError

MAGIC = b"\x00FE1"
FILE_MAGIC = b"\x00FEF1"
#: Plaintext bytes per encrypted file chunk.
FILE_CHUNK = 8 << 20
_LAST = 0x8000_0000
_KEY_ID = 8
_NONCE = 12
_ATTR = "_fieldid_keyring"


class DataKeyError(StorageError):
    code = "data_key_error"


class CorruptFileError(DataKeyError, ValueError):
    """An encrypted file that is truncated or fails authentication (damaged, not misconfigured)."""


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

    # -- encrypted files ---------------------------------------------------------------------
    def write_file(self, fh: BinaryIO, parts: Iterable[bytes | memoryview]) -> None:
        """Write ``parts`` (concatenated) to ``fh`` encrypted with the current key, chunk by chunk."""
        prefix = secrets.token_bytes(8)
        header = FILE_MAGIC + self._current.id + prefix
        fh.write(header)
        aead, counter, pending = self._current_aead, 0, None
        for part in parts:
            view = memoryview(part).cast("B")
            for start in range(0, len(view), FILE_CHUNK):
                if pending is not None:
                    fh.write(_seal(aead, prefix, counter, header, pending, last=False))
                    counter += 1
                pending = view[start : start + FILE_CHUNK]
        fh.write(_seal(aead, prefix, counter, header, pending if pending is not None else b"", last=True))

    def read_file(self, fh: BinaryIO) -> bytearray:
        """The plaintext of an encrypted file open at its start (see :meth:`write_file`)."""
        size = os.fstat(fh.fileno()).st_size
        head = len(FILE_MAGIC)
        header = fh.read(head + _KEY_ID + 8)
        if len(header) < head + _KEY_ID + 8 or not header.startswith(FILE_MAGIC):
            raise DataKeyError("Not an encrypted FieldID file.")
        key_id, prefix = header[head : head + _KEY_ID], header[head + _KEY_ID :]
        aead = self._by_id.get(key_id)
        if aead is None:
            raise DataKeyError(f"A file is encrypted with key {key_id.hex()}, which is not in the keyring.")
        out, pos, counter = bytearray(), len(header), 0
        while True:
            length = fh.read(4)
            size_of_body = int.from_bytes(length, "big") if len(length) == 4 else -1
            body = fh.read(size_of_body) if size_of_body >= 0 else b""
            if len(body) != size_of_body:
                raise CorruptFileError("An encrypted file is truncated.")
            pos += 4 + len(body)
            last = pos >= size
            try:
                out += aead.decrypt(_nonce(prefix, counter, last), body, header)
            except InvalidTag:
                raise CorruptFileError("An encrypted file failed authentication: tampered, damaged or "
                                       "truncated.") from None
            if last:
                return out
            counter += 1

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


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _LAST:
        raise DataKeyError("File too large to encrypt in one piece.")
    return prefix + (counter | (_LAST if last else 0)).to_bytes(4, "big")


def _seal(aead: AESGCM, prefix: bytes, counter: int, header: bytes, chunk: bytes | memoryview, *, last: bool) -> bytes:
    sealed = aead.encrypt(_nonce(prefix, counter, last), bytes(chunk), header)
    return len(sealed).to_bytes(4, "big") + sealed


def is_encrypted_file(head: bytes) -> bool:
    return bytes(head[: len(FILE_MAGIC)]) == FILE_MAGIC


def file_key_id(path: Path) -> bytes | None:
    """The key id an encrypted file was written with (None: a plain file)."""
    with open(path, "rb") as fh:
        head = fh.read(len(FILE_MAGIC) + _KEY_ID)
    return head[len(FILE_MAGIC) :] if is_encrypted_file(head) and len(head) == len(FILE_MAGIC) + _KEY_ID else None


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
