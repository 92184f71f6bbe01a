"""`fieldid backup` / `fieldid restore` round-trip a gallery with its index and audit chain, and
refuse damaged archives and occupied data directories."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from fieldid.backup import BackupError, backup, restore
from fieldid.config import Settings
from fieldid.errors import InvalidRequest
from fieldid.service import EnrollmentInfo, FieldID, ImageInput
from fieldid.storage.factory import make_index, open_store
from tests.conftest import CTX, face, make_agency


def _open(settings, face_models):
    return FieldID(settings, open_store(settings), make_index(settings), face_models=face_models)


def _one_person_searched(settings, face_models, agency_id):
    """A service with one enrolled person and one search of them (an audit trail to keep)."""
    svc = _open(settings, face_models)
    agency = make_agency(svc, agency_id)
    g = svc.create_gallery(agency.admin, "kept")
    ident = svc.enroll(agency.officer, g.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")],
                       EnrollmentInfo(legal_basis="t")).identity
    svc.identify(agency.officer, [g.id], face("person_a_2.jpg"), CTX)
    return svc, agency, g, ident


def _assert_finds(settings, face_models, agency, g, ident):
    """The restored deployment still finds the person (index and database agree)."""
    svc = _open(settings, face_models)
    try:
        found = svc.identify(agency.officer, [g.id], face("person_a_2.jpg"), CTX)
        assert found.candidates[0].identity_id == ident.id
    finally:
        svc.close()


def test_backup_restore_round_trip(tmp_path, face_models):
    settings = Settings(data_dir=tmp_path / "live", environment="test")
    svc, agency, g, ident = _one_person_searched(settings, face_models, "agency-k")
    archive = tmp_path / "backup.tar"
    manifest = backup(settings, archive, index=svc.index)  # while the service is open
    svc.close()
    assert manifest["identities"] == 1 and manifest["audit_intact"]

    # restore on "another machine": a new data dir with the same keyring
    other = Settings(data_dir=tmp_path / "restored", environment="test")
    other.resolved_data_keys_file.parent.mkdir(parents=True)
    shutil.copy(settings.resolved_data_keys_file, other.resolved_data_keys_file)
    result = restore(other, archive)
    assert result["restored"]["identities"] == 1 and result["restored"]["audit_head_hash"] == manifest["audit_head_hash"]
    _assert_finds(other, face_models, agency, g, ident)

    with pytest.raises(InvalidRequest):
        restore(other, archive)  # the data dir is not empty
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "fieldid.db":
                data = data[:-100] + b"\0" * 100
            member.size = len(data)
            import io

            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError) as exc:
        restore(Settings(data_dir=tmp_path / "third", environment="test"), damaged)
    assert exc.value.code == "backup_invalid"
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(BackupError):
        restore(Settings(data_dir=tmp_path / "fourth", environment="test"), tmp_path / "junk.tar")


def test_postgresql_backup_restore_round_trip(tmp_path, face_models):
    """The same round trip on PostgreSQL (pg_dump inside an exported snapshot, pg_restore in one
    transaction), into another database and data directory; an occupied database is refused."""
    from tests.conftest import fresh_pg_database

    with fresh_pg_database() as source_url, fresh_pg_database() as target_url:
        settings = Settings(data_dir=tmp_path / "live", environment="test", database_url=source_url)
        svc, agency, g, ident = _one_person_searched(settings, face_models, "agency-p")
        archive = tmp_path / "pg-backup.tar"
        manifest = backup(settings, archive, index=svc.index)  # while the service is open
        # written after the backup: must not be in it
        svc.enroll(agency.officer, g.id, [ImageInput(face("person_b_1.jpg"), "b.jpg")],
                   EnrollmentInfo(legal_basis="t"))
        svc.close()
        assert manifest["database"] == "postgresql" and manifest["identities"] == 1 and manifest["audit_intact"]
        with tarfile.open(archive) as tar:
            assert "fieldid.pgdump" in tar.getnames() and "fieldid.db" not in tar.getnames()

        other = Settings(data_dir=tmp_path / "restored", environment="test", database_url=target_url)
        other.resolved_data_keys_file.parent.mkdir(parents=True)
        shutil.copy(settings.resolved_data_keys_file, other.resolved_data_keys_file)
        with pytest.raises(InvalidRequest):  # a SQLite backup cannot land in PostgreSQL and vice versa
            restore(Settings(data_dir=tmp_path / "sqlite", environment="test"), archive)
        result = restore(other, archive)
        assert result["restored"]["identities"] == 1
        assert result["restored"]["audit_head_hash"] == manifest["audit_head_hash"]
        _assert_finds(other, face_models, agency, g, ident)
        with pytest.raises(InvalidRequest):
            restore(other, archive)  # the database holds tables now
        again = restore(other, archive, force=True)  # --force replaces them
        assert again["restored"]["audit_head_hash"] == manifest["audit_head_hash"]
