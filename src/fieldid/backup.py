"""Backup and restore of the embedded deployment (SQLite + FAISS) as one tar file.

The archive holds a consistent copy of the database (SQLite's online backup: the server may
keep running), a snapshot of the vector index taken after it, and ``manifest.json`` with the
files' SHA-256, the row counts and the audit chain head at backup time. The data keyring is
**not** in the archive (keep it in your secret store): restoring needs the same keyring.

Restore verifies the archive, refuses to overwrite a data directory that already holds a
database unless forced, puts the files in place, reconciles the index with the database (the
database is the source of truth) and checks that the audit chain is intact and ends where the
manifest says.

PostgreSQL deployments back up the database with ``pg_dump`` and the index (FAISS) with the
same snapshot, or rely on Milvus's own backup; see docs/scaling.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fieldid.config import Settings
from fieldid.errors import InvalidRequest, StorageError

FORMAT = "fieldid-backup/1"


class BackupError(StorageError):
    code = "backup_invalid"


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise InvalidRequest("fieldid backup covers the embedded SQLite store; back up PostgreSQL with pg_dump.")
    return Path(url.database)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _summary(settings: Settings) -> dict[str, Any]:
    from fieldid.governance.audit import verify_chain
    from fieldid.storage.factory import open_store
    from fieldid.storage.tables import Gallery, Identity, Template

    store = open_store(settings)
    try:
        with store.read() as s:
            chain = verify_chain(s)
            return {
                "galleries": s.scalar(select(func.count()).select_from(Gallery)),
                "identities": s.scalar(select(func.count()).select_from(Identity)),
                "templates": s.scalar(select(func.count()).select_from(Template)),
                "audit_events": chain.events,
                "audit_head_seq": chain.head_seq,
                "audit_head_hash": chain.head_hash,
                "audit_intact": chain.intact,
            }
    finally:
        store.dispose()


def backup(settings: Settings, out: Path, *, index: Any | None = None) -> dict[str, Any]:
    """Write the archive ``out`` (a .tar); ``index`` is the running FaissIndex if there is one
    (else the index is opened from disk). Returns the manifest."""
    db = _sqlite_path(settings)
    if not db.is_file():
        raise InvalidRequest(f"No database at {db}: nothing to back up.")
    with tempfile.TemporaryDirectory(prefix="fieldid-backup-") as tmp:
        work = Path(tmp)
        source = sqlite3.connect(db)
        target = sqlite3.connect(work / "fieldid.db")
        try:
            source.backup(target)  # consistent even while the server writes
        finally:
            target.close()
            source.close()
        files = ["fieldid.db"]
        if settings.index_backend == "faiss":
            from fieldid.storage.factory import make_index

            own = index is None
            idx = index or make_index(settings)
            try:
                idx.snapshot(work / "index")
            finally:
                if own:
                    idx.close()
            files += [str(p.relative_to(work)) for p in sorted((work / "index").rglob("*")) if p.is_file()]
        summary = _summary(settings.model_copy(update={"data_dir": work, "database_url": None,
                                                       "data_keys_file": settings.resolved_data_keys_file}))
        manifest = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(),
            "index_backend": settings.index_backend,
            "encrypted_at_rest": settings.encrypt_at_rest,
            "files": {name: _sha256(work / name) for name in files},
            **summary,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            for name in ["manifest.json", *files]:
                tar.add(work / name, arcname=name)
        partial.replace(out)
    return manifest


def restore(settings: Settings, archive: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore ``archive`` into the settings' data directory; returns the verified manifest."""
    db = _sqlite_path(settings)
    if db.exists() and not force:
        raise InvalidRequest(f"{db} exists: restore into an empty data directory, or pass --force.")
    with tempfile.TemporaryDirectory(prefix="fieldid-restore-") as tmp:
        work = Path(tmp)
        try:
            with tarfile.open(archive, "r") as tar:
                tar.extractall(work, filter="data")  # no absolute paths, links or devices
            manifest = json.loads((work / "manifest.json").read_text())
        except (OSError, tarfile.TarError, ValueError) as exc:
            raise BackupError(f"Not a readable FieldID backup: {exc}") from None
        if manifest.get("format") != FORMAT:
            raise BackupError("Not a FieldID backup (unknown format).")
        for name, digest in manifest["files"].items():
            path = work / name
            if not path.is_file() or _sha256(path) != digest:
                raise BackupError(f"The backup is damaged: {name} does not match its checksum.")
        db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        shutil.copyfile(work / "fieldid.db", db)
        if (work / "index").is_dir() and settings.index_backend == "faiss":
            from fieldid.storage.factory import make_index

            shutil.rmtree(settings.index_dir, ignore_errors=True)
            idx = make_index(settings)
            try:
                idx.restore(work / "index")
            finally:
                idx.close()
    from fieldid.storage.factory import make_index, open_store
    from fieldid.storage.reconcile import reconcile_index

    store, idx = open_store(settings), make_index(settings)
    try:
        report = reconcile_index(store, idx, repair=True)
    finally:
        idx.flush(force=True)
        close = getattr(idx, "close", None)
        if close:
            close()
        store.dispose()
    summary = _summary(settings)
    if not summary["audit_intact"] or summary["audit_head_hash"] != manifest["audit_head_hash"]:
        raise BackupError("The restored audit chain does not verify or does not end where the backup says.")
    return {**manifest, "restored": summary, "index_repairs": report.missing_vectors + report.orphan_vectors}
