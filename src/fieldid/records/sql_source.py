"""A record source over any SQLAlchemy database: one table (or view), keyed by a column.

The mapping names the table, the subject-key column, the record-id column, the source's own
last-updated column, the record type (a column or a constant) and the fields to show (shown
name → column). Nothing is reflected at start-up, so FieldID starts while a source is down;
a wrong table or column shows up as an ``error`` status and in the health check. Queries are
read-only and bounded: PostgreSQL gets a per-transaction ``statement_timeout`` from the time
left, other databases rely on the broker's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from fieldid.clock import Clock, SystemClock
from fieldid.records.base import (
    Record,
    SourceDescription,
    SourceError,
    SourceHealth,
    SourceTimeout,
    as_utc,
    json_ready,
)

#: Keys per IN (...) query: under every database's bound-parameter limit (SQLite: 32766).
KEYS_PER_QUERY = 500


@dataclass(frozen=True)
class SqlMapping:
    table: str
    key_column: str
    id_column: str
    updated_column: str
    fields: Mapping[str, str]  # shown field name -> column
    schema: str | None = None
    type_column: str | None = None
    record_type: str = "record"  # used when there is no type_column


class SqlSource:
    def __init__(
        self,
        description: SourceDescription,
        url: str,
        mapping: SqlMapping,
        *,
        clock: Clock | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._description = description
        self.mapping = mapping
        self._clock = clock or SystemClock()
        self.engine = _engine(url, connect_timeout_s)
        columns = {mapping.key_column, mapping.id_column, mapping.updated_column, *mapping.fields.values()}
        if mapping.type_column:
            columns.add(mapping.type_column)
        self._table = sa.table(mapping.table, *(sa.column(c) for c in sorted(columns)), schema=mapping.schema)

    def describe(self) -> SourceDescription:
        return self._description

    def lookup(self, subject_keys: Sequence[str], *, timeout_s: float) -> list[Record]:
        keys = sorted(set(subject_keys))
        if not keys:
            return []
        deadline = time.monotonic() + timeout_s
        m, t = self.mapping, self._table
        out: list[Record] = []
        try:
            with self.engine.connect() as conn, conn.begin():
                for start in range(0, len(keys), KEYS_PER_QUERY):
                    self._bound(conn, deadline)
                    rows = (
                        conn.execute(
                            sa.select(t)
                            .where(t.c[m.key_column].in_(keys[start : start + KEYS_PER_QUERY]))
                            .order_by(t.c[m.key_column], t.c[m.id_column])
                        )
                        .mappings()
                        .all()
                    )
                    now = self._clock.now()
                    out.extend(self._record(row, now) for row in rows)
        except SourceError:
            raise
        except SQLAlchemyError as exc:
            raise _source_error(exc, timeout_s) from exc
        return out

    def health(self, *, timeout_s: float) -> SourceHealth:
        """Connects and runs the lookup query on no keys, so a missing table or column shows."""
        started = time.monotonic()
        status, message = "ok", ""
        try:
            with self.engine.connect() as conn, conn.begin():
                self._bound(conn, started + timeout_s)
                conn.execute(sa.select(self._table).limit(0)).all()
        except SQLAlchemyError as exc:
            err = _source_error(exc, timeout_s)
            status, message = ("timeout" if isinstance(err, SourceTimeout) else "error"), str(err)
        return SourceHealth(
            self._description.name,
            status,
            _ms(started),
            message,
            self._clock.now(),
            details={"dialect": self.engine.dialect.name},
        )

    def close(self) -> None:
        self.engine.dispose()

    def _bound(self, conn: sa.Connection, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceTimeout("the database did not answer in time")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}")

    def _record(self, row: Mapping[str, object], now: datetime) -> Record:
        m = self.mapping
        try:
            updated = as_utc(row[m.updated_column])
        except (ValueError, SourceError) as exc:
            raise SourceError(f"column {m.updated_column!r} does not hold timestamps") from exc
        return Record(
            source=self._description.name,
            record_id=str(row[m.id_column]),
            record_type=str(row[m.type_column]) if m.type_column else m.record_type,
            subject_key=str(row[m.key_column]),
            fields={name: json_ready(row[col]) for name, col in m.fields.items()},
            updated_at=updated,
            retrieved_at=now,
            demo=self._description.demo,
        )


def _engine(url: str, connect_timeout_s: float) -> sa.Engine:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        # shared by the broker's threads; "timeout" bounds waiting for a writer's lock
        return sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": connect_timeout_s})
    if backend == "postgresql":
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=4,
            connect_args={"connect_timeout": max(2, round(connect_timeout_s))},
        )
    return sa.create_engine(url, pool_pre_ping=True)


def _source_error(exc: SQLAlchemyError, timeout_s: float) -> SourceError:
    """A message safe to show and audit: the driver's error class, never SQL or parameters
    (which would hold subject keys)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    if name in ("QueryCanceled", "QueryCanceledError"):  # PostgreSQL statement_timeout
        return SourceTimeout(f"the database did not answer within {timeout_s:.2g} s")
    if isinstance(exc, sa.exc.OperationalError) and "connect" in str(orig or exc).lower():
        return SourceError(f"cannot connect to the database ({name})")
    return SourceError(f"database error ({name})")


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
