"""Encryption at rest: biometric columns are AES-GCM ciphertexts in the database, the service
works through them, keys rotate, and a wrong or missing key is a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fieldid.cli import app
from fieldid.config import Settings
from fieldid.errors import FieldIDError
from fieldid.service import EnrollmentInfo, FieldID, ImageInput
from fieldid.storage import crypto
from fieldid.storage.crypto import FILE_MAGIC, MAGIC, CorruptFileError, DataKey, DataKeyError, Keyring
from fieldid.storage.factory import make_index, open_store
from fieldid.storage.faiss_index import FaissIndex
from fieldid.storage.faiss_persist import file_keys as index_files_keys
from fieldid.storage.faiss_persist import reencrypt_files
from fieldid.storage.memory_index import MemoryIndex
from tests.conftest import CTX, face, make_agency


def test_keyring_round_trip_rotation_and_errors():
    old, new = DataKey.generate(), DataKey.generate()
    ring = Keyring([old])
    blob = ring.encrypt(b"template bytes")
    assert blob.startswith(MAGIC) and b"template bytes" not in blob
    assert ring.decrypt(blob) == b"template bytes"
    assert ring.decrypt(b"written before encryption") == b"written before encryption"
    rotated = Keyring([new, old])
    assert rotated.decrypt(blob) == b"template bytes"  # older keys still read
    assert rotated.key_of(rotated.encrypt(b"x")) == new.id
    with pytest.raises(DataKeyError):
        Keyring([new]).decrypt(blob)  # key not in the keyring
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DataKeyError) as exc:
        ring.decrypt(tampered)
    assert exc.value.code == "data_key_error"
    assert Keyring.from_json(rotated.to_json()).decrypt(blob) == b"template bytes"
    with pytest.raises(DataKeyError):
        Keyring.from_json('{"keys": [{"id": "zz", "key": "!!"}]}')


def _open(settings, face_models):
    return FieldID(settings, open_store(settings), make_index(settings), face_models=face_models)


def test_biometric_columns_are_ciphertext_and_keys_rotate(tmp_path, face_models):
    settings = Settings(data_dir=tmp_path / "data", environment="test")
    svc = _open(settings, face_models)
    agency = make_agency(svc, "agency-e")
    g = svc.create_gallery(agency.admin, "enc")
    ident = svc.enroll(agency.officer, g.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")],
                       EnrollmentInfo(legal_basis="t")).identity
    assert svc.identify(agency.officer, [g.id], face("person_a_2.jpg"), CTX).candidates[0].identity_id == ident.id
    with svc.store.engine.connect() as c:
        thumb = c.execute(text("select thumbnail from samples")).scalar_one()
        vector = c.execute(text("select vector from templates")).scalar_one()
        probe = c.execute(text("select image from probe_images")).scalar_one()
    for raw in (thumb, vector, probe):
        assert bytes(raw).startswith(MAGIC)
    assert b"\xff\xd8\xff" not in bytes(thumb)[:16] and b"JFIF" not in bytes(probe)
    assert (settings.resolved_data_keys_file.stat().st_mode & 0o777) == 0o600
    first_key = Keyring.from_json(settings.resolved_data_keys_file.read_text()).current_id
    svc.close()

    runner = CliRunner()
    base = ["--data-dir", str(settings.data_dir)]
    rotated = runner.invoke(app, [*base, "keys", "rotate", "--drop-old"], env={"FIELDID_ENVIRONMENT": "test"})
    assert rotated.exit_code == 0, rotated.output
    ring = Keyring.from_json(settings.resolved_data_keys_file.read_text())
    assert len(ring.keys) == 1 and ring.current_id != first_key
    status = runner.invoke(app, [*base, "keys", "status"], env={"FIELDID_ENVIRONMENT": "test"})
    assert ring.current_id.hex() in status.output and first_key.hex() not in status.output

    # the index is rebuilt from the (re-encrypted) database, and search still finds the person
    import shutil

    shutil.rmtree(settings.index_dir)
    svc = _open(settings, face_models)
    try:
        svc.reconcile()
        assert svc.identify(agency.officer, [g.id], face("person_a_2.jpg"), CTX).candidates[0].identity_id == ident.id
    finally:
        svc.close()

    # the index files were written under the new key
    assert index_files_keys(settings.index_dir) == {ring.current_id.hex(): 2}

    # the wrong keyring is a clear error, never garbage: for the index files …
    wrong = Settings(data_dir=settings.data_dir, environment="test", data_keys=Keyring([DataKey.generate()]).to_json())
    with pytest.raises(DataKeyError):
        make_index(wrong)
    # … and for the database's columns
    svc = FieldID(wrong, open_store(wrong), MemoryIndex(), face_models=face_models)
    try:
        with pytest.raises(FieldIDError) as exc:
            svc.sample_thumbnail(agency.officer, svc.get_identity(agency.officer, ident.id).samples[0].id)
        assert exc.value.code == "data_key_error"
    finally:
        svc.close()


def test_production_refuses_to_start_without_a_keyring(tmp_path):
    with pytest.raises(DataKeyError):
        open_store(Settings(data_dir=tmp_path / "prod", environment="production"))


def _sealed(ring: Keyring, parts) -> bytes:
    buf = io.BytesIO()
    ring.write_file(buf, parts)
    return buf.getvalue()


def _open_bytes(ring: Keyring, data: bytes, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        return bytes(ring.read_file(fh))


@pytest.mark.parametrize("plain", [b"", b"x", bytes(range(256)) * 40])
def test_encrypted_files_round_trip_in_chunks_and_detect_damage(tmp_path, monkeypatch, plain):
    monkeypatch.setattr(crypto, "FILE_CHUNK", 1000)  # many chunks
    ring = Keyring([DataKey.generate()])
    parts = [plain[:10], memoryview(plain[10:])]
    sealed = _sealed(ring, parts)
    # (a one-byte plaintext turns up in random ciphertext by chance: look for long ones only)
    assert sealed.startswith(FILE_MAGIC) and (len(plain) < 16 or plain[:64] not in sealed)
    assert _open_bytes(ring, sealed, tmp_path) == plain
    header = len(FILE_MAGIC) + 16
    damaged = {
        "truncated": sealed[:-1],
        "tampered": sealed[:-1] + bytes([sealed[-1] ^ 1]),
        "header": sealed[: len(FILE_MAGIC) + 8] + bytes(8) + sealed[header:],  # another nonce prefix
    }
    if len(plain) > 2000:  # several chunks: dropping the last whole chunk must not pass as complete
        size = 4 + 1000 + 16
        damaged["last chunk dropped"] = sealed[: header + 2 * size]
        first, second = sealed[header : header + size], sealed[header + size : header + 2 * size]
        damaged["reordered"] = sealed[:header] + second + first + sealed[header + 2 * size :]
    for name, data in damaged.items():
        with pytest.raises(CorruptFileError):
            _open_bytes(ring, data, tmp_path)
        assert name  # (for the failure message)
    with pytest.raises(DataKeyError):
        _open_bytes(Keyring([DataKey.generate()]), sealed, tmp_path)  # a key not in the ring


def test_faiss_files_are_encrypted_and_plain_ones_are_upgraded(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 51, dtype=np.int64)
    plain_dir = tmp_path / "idx"
    index = FaissIndex(plain_dir)  # written before encryption was switched on
    index.add("g|m", ids, vectors)
    index.flush(force=True)
    assert index_files_keys(plain_dir) == {"plain": 2}

    ring = Keyring([DataKey.generate()])
    index = FaissIndex(plain_dir, keyring=ring)  # plain files still load …
    assert index.count("g|m") == 50
    index.add("g|m", np.array([99], np.int64), vectors[:1])
    index.flush(force=True)  # … and the next write encrypts them
    assert index_files_keys(plain_dir) == {ring.current_id.hex(): 2}
    for path in plain_dir.glob("*.npy"):
        data = path.read_bytes()
        assert data.startswith(FILE_MAGIC) and vectors[3].tobytes() not in data
    reopened = FaissIndex(plain_dir, keyring=ring)
    hits = reopened.search(["g|m"], vectors[3:4], 1)[0]
    assert hits[0].vector_id == 4 and hits[0].score == pytest.approx(1.0, abs=1e-5)

    rotated = Keyring([DataKey.generate(), *ring.keys])
    assert reencrypt_files(plain_dir, rotated) == 2
    assert index_files_keys(plain_dir) == {rotated.current_id.hex(): 2}
    assert FaissIndex(plain_dir, keyring=Keyring([rotated.keys[0]])).count("g|m") == 51
    with pytest.raises(DataKeyError):
        FaissIndex(plain_dir)  # encrypted files and no keyring: refused, not silently rebuilt
