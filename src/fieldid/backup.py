"""Backup and restore of a deployment's database and vector index as one tar file.

The archive holds a consistent copy of the database — SQLite's online backup, or for
PostgreSQL a ``pg_dump`` (custom format) taken inside an exported snapshot, so the row counts
and the audit chain head recorded beside it describe exactly the dumped state; the server may
keep running in both cases — a snapshot of the FAISS index taken after it, and
``manifest.json`` with the files' SHA-256, the row counts and the audit chain head at backup
time. The data keyring is **not** in the archive (keep it in your secret store): restoring
needs the same keyring.

Restore verifies the archive, refuses to overwrite a database that already holds data unless
forced, puts the files in place (``pg_restore`` in one transaction for PostgreSQL), reconciles
the index with the database (the database, which holds every template, is the source of
truth: a Milvus index, which is not in the archive, is rebuilt from it) and checks that the
audit chain is intact and ends where the manifest says.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fieldid.config import Settings
from fieldid.errors import InvalidRequest, StorageError

FORMAT = "fieldid-backup/1"
PG_DUMP_FILE = "fieldid.pgdump"


class BackupError(StorageError):
    code = "backup_invalid"


def _database(settings: Settings) -> tuple[str, URL]:
    url = make_url(settings.resolved_database_url)
    backend = url.get_backend_name()
    if backend == "postgresql" or (backend == "sqlite" and url.database):
        return backend, url
    raise InvalidRequest(f"fieldid backup covers SQLite and PostgreSQL stores, not {backend}.")


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore, and the environment carrying the
    password (never on the command line, where other users could read it)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> None:
    tool = args[0]
    if shutil.which(tool) is None:
        raise StorageError(f"{tool} is not installed: it is needed to back up or restore PostgreSQL.")
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StorageError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _counts(s: Session) -> dict[str, Any]:
    from fieldid.governance.audit import verify_chain
    from fieldid.storage.tables import Gallery, Identity, Template

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


def _summary(settings: Settings) -> dict[str, Any]:
    from fieldid.storage.factory import open_store

    store = open_store(settings)
    try:
        with store.read() as s:
            return _counts(s)
    finally:
        store.dispose()


def _pg_dump(url: URL, target: Path) -> dict[str, Any]:
    """Dump the database to ``target`` and count it, both from one exported snapshot."""
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            with Session(bind=conn) as s:
                summary = _counts(s)
            uri, env = _libpq(url)
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                  "--file", str(target), "--dbname", uri], env)
        return summary
    finally:
        engine.dispose()


def _pg_restore(url: URL, dump: Path, *, force: bool) -> None:
    engine = create_engine(url)
    try:
        occupied = bool(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if occupied and not force:
        raise InvalidRequest("The PostgreSQL database already holds tables: restore into an empty database, "
                             "or pass --force to replace them.")
    uri, env = _libpq(url)
    _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          *(["--clean", "--if-exists"] if occupied else []), "--dbname", uri, str(dump)], env)


def backup(settings: Settings, out: Path, *, index: Any | None = None) -> dict[str, Any]:
    """Write the archive ``out`` (a .tar); ``index`` is the running FaissIndex if there is one
    (else the index is opened from disk). Returns the manifest."""
    backend, url = _database(settings)
    with tempfile.TemporaryDirectory(prefix="fieldid-backup-") as tmp:
        work = Path(tmp)
        if backend == "postgresql":
            summary = _pg_dump(url, work / PG_DUMP_FILE)
            files = [PG_DUMP_FILE]
        else:
            db = Path(url.database or "")
            if not db.is_file():
                raise InvalidRequest(f"No database at {db}: nothing to back up.")
            source = sqlite3.connect(db)
            target = sqlite3.connect(work / "fieldid.db")
            try:
                source.backup(target)  # consistent even while the server writes
            finally:
                target.close()
                source.close()
            files = ["fieldid.db"]
            summary = _summary(settings.model_copy(update={
                "data_dir": work, "database_url": None, "data_keys_file": settings.resolved_data_keys_file}))
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
        manifest = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(),
            "database": backend,
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
    backend, url = _database(settings)
    db = Path(url.database or "")
    if backend == "sqlite" and db.exists() and not force:
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
        dumped = manifest.get("database", "sqlite")
        if dumped != backend:
            raise InvalidRequest(f"This backup is of a {dumped} database; the settings name a {backend} one.")
        if backend == "postgresql":
            _pg_restore(url, work / PG_DUMP_FILE, force=force)
        else:
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
