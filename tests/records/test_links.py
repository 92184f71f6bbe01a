"""Subject keys in several systems (subject_keys table) on SQLite and PostgreSQL, the demo links,
and the broker reading them from the store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fieldid.governance.roles import Role
from fieldid.records.config import build_sources, demo_records_config
from fieldid.records.federation import RecordBroker
from fieldid.records.links import (
    LinkedKey,
    identities_with_key,
    keys_of,
    link_key,
    own_key_system,
    seed_demo_links,
    unlink_key,
)
from fieldid.storage import repo
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import Agency, Gallery, Identity, SubjectKey
from tests.records.conftest import actor

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def add_identity(s, ident_id: str, agency: str, subject_key: str | None) -> Identity:
    if s.get(Agency, agency) is None:
        s.add(Agency(id=agency, name=agency, created_at=NOW))
        s.add(Gallery(id=f"g-{agency}", agency_id=agency, name="g", target_fpir=0.01, created_at=NOW))
        s.flush()
    ident = Identity(
        id=ident_id,
        gallery_id=f"g-{agency}",
        agency_id=agency,
        pseudonym=f"FID-{ident_id}",
        subject_key=subject_key,
        created_at=NOW,
    )
    s.add(ident)
    s.flush()
    return ident


@pytest.fixture
def store(store_url):
    st = SqlStore(store_url)
    yield st
    st.dispose()


def test_an_identity_has_keys_in_several_systems(store):
    with store.write() as s:
        a = add_identity(s, "i-a", "agency-a", "P-100")
        add_identity(s, "i-b", "agency-b", None)
        assert link_key(s, a, "national-id", "K-1", now=NOW, created_by="u1")
        assert link_key(s, a, "border", "TRV-9", now=NOW)
        assert not link_key(s, a, "border", "TRV-9", now=NOW)  # idempotent
    with store.read() as s:
        keys = keys_of(s, ["i-a", "i-b", "i-missing"])
        row = s.get(SubjectKey, ("i-a", "national-id", "K-1"))
        assert row.agency_id == "agency-a" and row.created_by == "u1" and row.created_at == NOW
    assert keys["i-a"] == [
        LinkedKey("agency:agency-a", "P-100"),
        LinkedKey("border", "TRV-9"),
        LinkedKey("national-id", "K-1"),
    ]
    assert keys["i-b"] == [] and keys["i-missing"] == []
    assert own_key_system("agency-a") == "agency:agency-a"


def test_reverse_lookup_is_per_agency(store):
    with store.write() as s:
        a = add_identity(s, "i-a", "agency-a", "P-1")
        b = add_identity(s, "i-b", "agency-b", "P-1")
        link_key(s, a, "national-id", "K-1", now=NOW)
        link_key(s, b, "national-id", "K-1", now=NOW)
    with store.read() as s:
        assert identities_with_key(s, "agency-a", "national-id", "K-1") == ["i-a"]
        assert identities_with_key(s, "agency-b", own_key_system("agency-b"), "P-1") == ["i-b"]
        assert identities_with_key(s, "agency-a", own_key_system("agency-b"), "P-1") == []


def test_links_go_with_their_identity(store):
    with store.write() as s:
        a = add_identity(s, "i-a", "agency-a", None)
        link_key(s, a, "national-id", "K-1", now=NOW)
        link_key(s, a, "border", "T-1", now=NOW)
        assert unlink_key(s, "i-a", "border", "T-1") and not unlink_key(s, "i-a", "border", "T-1")
    with store.write() as s:
        repo.delete_identity_rows(s, "i-a")
    with store.read() as s:
        assert s.query(SubjectKey).count() == 0


def test_empty_keys_are_refused(store):
    with store.write() as s:
        a = add_identity(s, "i-a", "agency-a", None)
        with pytest.raises(ValueError):
            link_key(s, a, "national-id", "  ", now=NOW)


def test_demo_links_only_for_pseudonymous_demo_keys(store):
    with store.write() as s:
        demo = add_identity(s, "i-demo", "demo-pd", "demo-0123456789ab")
        label = add_identity(s, "i-label", "demo-pd", "Jane_Example")  # a data-set label: never linked
        bare = add_identity(s, "i-bare", "demo-pd", None)
        assert seed_demo_links(s, [demo, label, bare], now=NOW) == 3
        assert seed_demo_links(s, [demo, label, bare], now=NOW) == 0  # idempotent
    with store.read() as s:
        keys = keys_of(s, ["i-demo", "i-label"])
    assert set(keys["i-demo"]) == {
        LinkedKey("agency:demo-pd", "demo-0123456789ab"),
        LinkedKey("demo-police", "demo-0123456789ab"),
        LinkedKey("demo-border", "DEMO-TRV-0123456789AB"),
        LinkedKey("demo-benefits", "DEMO-BEN-0123456789AB"),
    }
    assert keys["i-label"] == [LinkedKey("agency:demo-pd", "Jane_Example")]


def test_the_broker_reads_candidate_keys_from_the_store(tmp_path, clock):
    store = SqlStore(f"sqlite:///{tmp_path / 'store.db'}")
    broker = RecordBroker(build_sources(demo_records_config(), clock=clock), store=store)
    try:
        with store.write() as s:
            idents = [add_identity(s, f"i-{n}", "demo-pd", f"demo-{n:012x}") for n in range(12)]
            add_identity(s, "i-label", "demo-pd", "Jane_Example")
            seed_demo_links(s, idents, now=NOW)
        ids = [f"i-{n}" for n in range(12)] + ["i-label"]
        supervisor = broker.records_for(actor(Role.SUPERVISOR, "demo-pd"), ids)
        assert {s.status for s in supervisor.statuses} == {"ok"}
        assert {r.source for rs in supervisor.records_by_identity.values() for r in rs} == {
            "demo-police",
            "demo-border",
            "demo-benefits",
        }
        assert supervisor.records_by_identity["i-label"] == ()
        for ident, records in supervisor.records_by_identity.items():
            for r in records:
                assert r.demo and r.subject_key.lower().endswith(f"{int(ident[2:]):012x}")
        officer = broker.records_for(actor(Role.OFFICER, "demo-pd"), ids)
        assert {s.source: s.status for s in officer.statuses}["demo-benefits"] == "not_permitted"
    finally:
        broker.close()
        store.dispose()
