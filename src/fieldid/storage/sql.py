"""The relational store: SQLAlchemy engine, Alembic migrations and the repository.

One code path for SQLite (embedded default: WAL, foreign keys on, one writer) and PostgreSQL
(psycopg 3). Every query that reads agency data takes the agency id and filters by it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from fieldid.errors import StorageError
from fieldid.storage.crypto import Keyring, attach

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, *, immediate: bool = False) -> Engine:
    """An engine for ``url``. SQLite: ``immediate`` transactions take the write lock when they
    begin (BEGIN IMMEDIATE), so a writer never acts on a snapshot another writer has changed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:")
        if not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if in_memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # pysqlite would begin transactions only at the first write, after our reads; we
            # take over BEGIN (SQLAlchemy's documented recipe) so a transaction covers its reads.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    raise StorageError(f"Unsupported database URL scheme {parsed.get_backend_name()!r}: use sqlite or postgresql.")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


class SqlStore:
    """Engine + session factory + schema migrations. Writers are serialised per process."""

    def __init__(self, url: str, *, migrate: bool = True, keyring: Keyring | None = None) -> None:
        self.url = url
        self.keyring = keyring
        self.engine = make_engine(url)
        attach(self.engine, keyring)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        in_memory_sqlite = self.engine.dialect.name == "sqlite" and (self.engine.url.database or "") in ("", ":memory:")
        if self.engine.dialect.name == "sqlite" and not in_memory_sqlite:
            self._write_engine = make_engine(url, immediate=True)
        else:
            self._write_engine = self.engine
        attach(self._write_engine, keyring)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        #: SQLite has one writer; serialising writers here avoids "database is locked".
        self.write_lock = threading.RLock()
        if migrate:
            self.migrate()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        with self._write_engine.begin() as connection:
            cfg = alembic_config(self.engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        from fieldid.governance.audit import ensure_chain_head

        with self.write() as session:
            ensure_chain_head(session)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading. Closing it ends the transaction (rolled back) without
        expiring the rows read, so they stay usable as plain values afterwards."""
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction: committed when the block ends normally, rolled back otherwise."""
        with self.write_lock:
            session = self._write_sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_engine is not self.engine:
            self._write_engine.dispose()
