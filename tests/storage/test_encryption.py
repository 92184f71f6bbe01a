"""Encryption at rest: biometric columns are AES-GCM ciphertexts in the database, the service
works through them, keys rotate, and a wrong or missing key is a clear error."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fieldid.cli import app
from fieldid.config import Settings
from fieldid.errors import FieldIDError
from fieldid.service import EnrollmentInfo, FieldID, ImageInput
from fieldid.storage.crypto import MAGIC, DataKey, DataKeyError, Keyring
from fieldid.storage.factory import make_index, open_store
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

    # the wrong keyring is a clear error, never garbage
    wrong = Settings(data_dir=settings.data_dir, environment="test", data_keys=Keyring([DataKey.generate()]).to_json())
    svc = _open(wrong, face_models)
    try:
        with pytest.raises(FieldIDError) as exc:
            svc.sample_thumbnail(agency.officer, svc.get_identity(agency.officer, ident.id).samples[0].id)
        assert exc.value.code == "data_key_error"
    finally:
        svc.close()


def test_production_refuses_to_start_without_a_keyring(tmp_path):
    with pytest.raises(DataKeyError):
        open_store(Settings(data_dir=tmp_path / "prod", environment="production"))
