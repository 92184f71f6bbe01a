"""The audit verifier catches every single-row edit, deletion and swap (property tests),
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from fieldid.governance.audit import Event, EventType, append_event, verify_chain, verify_rows
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import AuditEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build_log(store: SqlStore, n: int) -> None:
    with store.write() as s:
        for i in range(n):
            append_event(s, Event(EventType.SEARCH_IDENTIFY, f"agency-{i % 3}", f"user-{i % 5}", "criminal_investigation",
                                  f"CASE-{i}", None, {"i": i, "candidates": [{"score": i / 10}]}), T0 + timedelta(minutes=i))


@pytest.fixture
def store(store_url):
    st_ = SqlStore(store_url)
    yield st_
    st_.dispose()


def test_intact_log_verifies(store):
    build_log(store, 20)
    with store.read() as s:
        report = verify_chain(s)
    assert report.intact and report.events == 20 and report.head_seq == 20


def test_each_kind_of_tampering_is_located(store):
    build_log(store, 12)
    with store.write() as s:  # edit a payload directly in the table, bypassing the application
        s.execute(update(AuditEvent).where(AuditEvent.seq == 5).values(payload=json.dumps({"i": 999})))
    with store.read() as s:
        report = verify_chain(s)
    assert not report.intact and [(b.seq, b.problem) for b in report.breaks] == [(5, "edited")]


def test_deleting_a_row_is_detected(store):
    build_log(store, 12)
    with store.write() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 7))
    with store.read() as s:
        report = verify_chain(s)
    assert {b.seq for b in report.breaks} == {8} and not report.intact


def test_truncating_the_tail_is_detected(store):
    build_log(store, 12)
    with store.write() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq >= 11))
    with store.read() as s:
        report = verify_chain(s)
    assert [b.problem for b in report.breaks] == ["head_mismatch"]


def test_swapping_two_rows_is_detected(store):
    build_log(store, 12)
    with store.write() as s:
        a = s.execute(select(AuditEvent).where(AuditEvent.seq == 3)).scalar_one()
        b = s.execute(select(AuditEvent).where(AuditEvent.seq == 4)).scalar_one()
        fields = ("id", "ts", "event_type", "agency_id", "actor_id", "purpose", "case_number", "payload",
                  "prev_hash", "hash")
        va, vb = ({f: getattr(x, f) for f in fields} for x in (a, b))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(id="tmp-a", hash="tmp-a"))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(**va))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(**vb))
    with store.read() as s:
        report = verify_chain(s)
    assert not report.intact and {b.seq for b in report.breaks} >= {3}


# -- property: any single-row edit, delete or swap in a generated log is caught ------------------
class Row:
    """A detached copy of an audit row (verify_rows only reads attributes)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def generated_log(n: int) -> list[Row]:
    from fieldid.governance.audit import GENESIS, canonical_json, event_hash

    rows, prev = [], GENESIS
    for i in range(n):
        r = Row(seq=i + 1, id=f"e{i}", ts=T0 + timedelta(seconds=i), event_type="search.identify",
                agency_id=f"a{i % 2}", actor_id=f"u{i % 3}", purpose="p", case_number=f"C{i}", gallery_id=None,
                payload=canonical_json({"i": i}), prev_hash=prev, hash="")
        r.hash = event_hash(prev, r)
        prev = r.hash
        rows.append(r)
    return rows


FIELDS = ("id", "ts", "event_type", "agency_id", "actor_id", "purpose", "case_number", "payload")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 40), data=st.data())
def test_verifier_catches_every_single_row_change(n, data):
    rows = generated_log(n)
    head = Row(seq=rows[-1].seq, hash=rows[-1].hash)
    assert verify_rows(rows, head).intact
    kind = data.draw(st.sampled_from(["edit", "delete", "swap"]))
    i = data.draw(st.integers(0, n - 1))
    if kind == "edit":
        field = data.draw(st.sampled_from(FIELDS))
        value = getattr(rows[i], field)
        setattr(rows[i], field, value + timedelta(seconds=1) if field == "ts" else str(value) + "x")
    elif kind == "delete":
        del rows[i]
    else:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        rows[i], rows[j] = rows[j], rows[i]
    assert not verify_rows(rows, head).intact


def test_chain_survives_concurrent_writers(store):
    """Writers with their own engines (as separate server processes would have) append at once:
    the chain-head row lock (SQLite: the database lock) keeps one unbroken order."""
    import threading

    store.migrate()

    def writer(k: int) -> None:
        own = SqlStore(store.url, migrate=False)
        try:
            for i in range(15):
                with own.write() as s:
                    append_event(s, Event(EventType.ADMIN, "a", f"w{k}", details={"i": i}), T0)
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.read() as s:
        report = verify_chain(s)
        n = s.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    assert report.intact and n == 60
