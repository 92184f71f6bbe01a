"""One contract for every connector: SQL on SQLite and PostgreSQL, HTTP (batch POST and GET per
key) against a real local server, and the demo source."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC

import pytest

from fieldid.records.base import RecordSource
from fieldid.records.demo_source import DemoSource, demo_description
from fieldid.records.synthetic import system_key
from tests.records.conftest import NOW, http_source, sql_source


@dataclass
class Contract:
    source: RecordSource
    known: dict[str, set[str]]  # subject key -> record ids the source holds under it
    unknown: list[str]


DEMO_KEYS = [f"demo-{i:012x}" for i in range(40)]


@pytest.fixture(params=["sql-sqlite", "sql-postgresql", "http-batch", "http-per-key", "demo"])
def contract(request, clock, registry) -> Contract:
    kind = request.param
    if kind.startswith("sql"):
        url = request.getfixturevalue("sqlite_records_url" if kind == "sql-sqlite" else "pg_records_url")
        source = sql_source(url, clock)
        known = {"P-100": {"1", "2"}, "P-200": {"3"}}
    elif kind.startswith("http"):
        source = http_source(
            registry.url,
            clock,
            lookup_path="/persons/{key}/records" if kind == "http-per-key" else "/records/lookup",
        )
        known = {"K-1": {"R-1", "R-2"}, "K-2": {"R-3"}, "K-3": set()}
    else:
        source = DemoSource(demo_description("demo-police"), seed=7, clock=clock)
        records = source.lookup(DEMO_KEYS, timeout_s=1)
        known = {k: {r.record_id for r in records if r.subject_key == k} for k in DEMO_KEYS}
        assert sum(map(len, known.values())) > 20, "the demo source holds records for most people"
    request.addfinalizer(source.close)
    return Contract(source, known, ["NOPE-1", "not-a-key", "demo-zzzzzzzzzzzz"])


def test_describe_names_the_source_and_its_fields(contract):
    d = contract.source.describe()
    assert d.name and d.title and d.key_system and d.fields
    assert d.connector in ("sql", "http", "demo") and d.kind in ("operational", "training", "demo")


def test_lookup_returns_the_records_held_under_the_keys(contract):
    records = contract.source.lookup(sorted(contract.known), timeout_s=2)
    got: dict[str, set[str]] = {}
    for r in records:
        got.setdefault(r.subject_key, set()).add(r.record_id)
    assert got == {k: v for k, v in contract.known.items() if v}


def test_every_record_carries_provenance_and_json_fields(contract):
    d = contract.source.describe()
    records = contract.source.lookup(sorted(contract.known), timeout_s=2)
    assert records
    for r in records:
        assert r.source == d.name and r.record_id and r.record_type
        assert r.retrieved_at == NOW  # the injected clock
        assert r.updated_at is not None and r.updated_at.tzinfo is not None
        assert r.updated_at.utcoffset().total_seconds() == 0 and r.updated_at <= NOW
        assert set(r.fields) <= set(d.fields)
        json.dumps(dict(r.fields))  # JSON-ready
        assert r.demo == d.demo


def test_unknown_and_empty_keys_give_nothing(contract):
    assert contract.source.lookup(contract.unknown, timeout_s=2) == []
    assert contract.source.lookup([], timeout_s=2) == []


def test_batching_does_not_change_the_answer(contract):
    keys = sorted(contract.known)
    together = {
        (r.subject_key, r.record_id) for r in contract.source.lookup(keys + contract.unknown, timeout_s=2)
    }
    one_by_one = {
        (r.subject_key, r.record_id) for k in keys for r in contract.source.lookup([k], timeout_s=2)
    }
    assert together == one_by_one
    again = {(r.subject_key, r.record_id) for r in contract.source.lookup(keys, timeout_s=2)}
    assert again == together  # stable between calls


def test_health_is_ok(contract):
    health = contract.source.health(timeout_s=2)
    assert health.status == "ok" and health.source == contract.source.describe().name
    assert health.checked_at == NOW and health.latency_ms is not None


def test_timestamps_are_utc_whatever_the_source_stores(contract):
    if contract.source.describe().connector == "http":
        (r3,) = [r for r in contract.source.lookup(["K-2"], timeout_s=2)]
        assert r3.updated_at.isoformat() == "2024-12-31T22:59:59+00:00"  # +01:00 in the source
        assert r3.updated_at.tzinfo is UTC
    elif contract.source.describe().connector == "sql":
        (r3,) = contract.source.lookup(["P-200"], timeout_s=2)
        assert r3.updated_at.isoformat() == "2023-01-05T17:45:00+00:00"
        assert r3.fields["opened_on"] == "2023-01-05" and r3.fields["officer_notes"] is None
    else:
        key = system_key("demo-police", DEMO_KEYS[0])
        assert all(r.updated_at.tzinfo is UTC for r in contract.source.lookup([key], timeout_s=1))
