"""SQL connector beyond the contract: failures are reported without leaking keys or SQL, and
PostgreSQL queries are cut off at the time they were given."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from fieldid.records.base import SourceDescription, SourceError, SourceTimeout
from fieldid.records.sql_source import SqlMapping, SqlSource
from tests.records.conftest import SQL_FIELDS, sql_source


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    return request.getfixturevalue("sqlite_records_url" if request.param == "sqlite" else "pg_records_url")


def test_a_missing_table_is_an_error_that_names_no_key_and_no_sql(db_url, clock):
    source = sql_source(db_url, clock, table="no_such_table")
    try:
        with pytest.raises(SourceError) as err:
            source.lookup(["P-100-SECRET-KEY"], timeout_s=2)
        message = str(err.value)
        assert message.startswith("database error (")
        assert "P-100" not in message and "SELECT" not in message.upper() and "no_such_table" not in message
        health = source.health(timeout_s=2)
        assert health.status == "error" and "P-100" not in health.message
    finally:
        source.close()


def test_a_missing_column_shows_in_the_health_check(db_url, clock):
    desc = SourceDescription("county", "County", "sql", "operational", "county", (), ("summary",))
    mapping = SqlMapping(
        table="person_records",
        key_column="person_key",
        id_column="record_id",
        updated_column="last_modified",
        fields={"summary": "no_such_column"},
    )
    source = SqlSource(desc, db_url, mapping, clock=clock)
    try:
        assert source.health(timeout_s=2).status == "error"
    finally:
        source.close()


def test_an_unreachable_database_is_an_error_not_a_hang(clock):
    source = sql_source("postgresql+psycopg://nobody@127.0.0.1:1/none", clock)
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="cannot connect"):
            source.lookup(["P-100"], timeout_s=1)
        assert time.monotonic() - started < 3
    finally:
        source.close()


def test_postgresql_statements_are_cut_off_at_the_budget(pg_records_url, clock):
    engine = sa.create_engine(pg_records_url)
    with engine.begin() as conn:  # a view that is slow to read: 0.4 s per row
        conn.exec_driver_sql(
            "CREATE OR REPLACE VIEW slow_records AS "
            "SELECT r.* FROM person_records r, LATERAL (SELECT pg_sleep(0.4)) AS pause"
        )
    engine.dispose()
    source = sql_source(pg_records_url, clock, table="slow_records")
    try:
        started = time.monotonic()
        with pytest.raises(SourceTimeout):
            source.lookup(["P-100"], timeout_s=0.3)
        assert time.monotonic() - started < 0.9
        assert len(source.lookup(["P-200"], timeout_s=3)) == 1  # given time, the same query answers
    finally:
        source.close()


def test_many_keys_are_queried_in_chunks(db_url, clock):
    source = sql_source(db_url, clock)
    try:
        keys = [f"X-{i}" for i in range(1200)] + ["P-200"]
        assert [r.record_id for r in source.lookup(keys, timeout_s=5)] == ["3"]
    finally:
        source.close()


def test_a_constant_record_type_and_a_schema_free_table(sqlite_records_url, clock):
    desc = SourceDescription("county", "County", "sql", "operational", "county", ("note",), tuple(SQL_FIELDS))
    mapping = SqlMapping(
        table="person_records",
        key_column="person_key",
        id_column="record_id",
        updated_column="last_modified",
        fields=SQL_FIELDS,
        record_type="note",
    )
    source = SqlSource(desc, sqlite_records_url, mapping, clock=clock)
    try:
        assert {r.record_type for r in source.lookup(["P-100"], timeout_s=2)} == {"note"}
    finally:
        source.close()
