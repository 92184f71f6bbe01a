"""The broker: concurrent fan-out, partial results with per-source statuses, circuit breaking,
field filtering per role and agency, federated-only sources, training mode, audit details."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from fieldid.errors import PermissionDenied, SourceNotFound
from fieldid.governance.audit import EventType
from fieldid.governance.roles import Role
from fieldid.records.config import ConfiguredSource
from fieldid.records.demo_source import DemoSource, demo_description
from fieldid.records.federation import RecordBroker, access_event_details, record_access_event
from fieldid.records.links import LinkedKey
from fieldid.records.policy import SourcePolicy
from fieldid.records.schemas import SourceHealthOut, SourceOut, lookup_json
from fieldid.records.synthetic import DEMO_SYSTEMS, synthetic_records, system_key
from tests.records.conftest import FakeMonotonic, actor, http_source, sql_source


def _demo_key_with_records(seed: int) -> str:
    """A demo person who has police records under ``seed`` (most have; the generator decides)."""
    for i in range(100):
        key = f"demo-{i:012x}"
        records = synthetic_records(
            seed,
            [key],
            source="demo-police",
            record_types=DEMO_SYSTEMS["demo-police"],
            retrieved_at=datetime.now(UTC),
        )
        if len(records) >= 2:
            return key
    raise AssertionError("no demo person with records")


DEMO_SEED = 3
DEMO_KEY = _demo_key_with_records(DEMO_SEED)
KEYS = {
    "ident-1": [
        LinkedKey("national-id", "K-1"),
        LinkedKey("agency:agency-a", "P-100"),
        LinkedKey("demo-police", DEMO_KEY),
    ],
    "ident-2": [LinkedKey("national-id", "K-2")],
    "ident-3": [],
}
POLICY = SourcePolicy(
    kind="operational",
    agencies=frozenset({"agency-a", "agency-b"}),
    summary_fields=("summary", "status"),
    agency_roles={"agency-b": {Role.OFFICER: "none"}},
)


def demo(clock) -> ConfiguredSource:
    return ConfiguredSource(
        DemoSource(demo_description("demo-police"), seed=DEMO_SEED, clock=clock),
        SourcePolicy(
            kind="demo", summary_fields=("summary", "date", "status"), roles={Role.TRAINEE: "summary"}
        ),
    )


def registry_source(url, clock, *, name="registry", policy=POLICY, **kw) -> ConfiguredSource:
    return ConfiguredSource(http_source(url, clock, name=name, **kw), policy)


@pytest.fixture
def brokers():
    made: list[RecordBroker] = []

    def make(sources, **kw) -> RecordBroker:
        b = RecordBroker(sources, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def statuses(result) -> dict[str, str]:
    return {s.source: s.status for s in result.statuses}


def test_records_come_back_per_identity_with_provenance(brokers, registry, sqlite_records_url, clock):
    broker = brokers(
        [
            registry_source(registry.url, clock),
            ConfiguredSource(sql_source(sqlite_records_url, clock), POLICY),
            demo(clock),
        ]
    )
    result = broker.lookup(actor(Role.SUPERVISOR), KEYS)
    assert statuses(result) == {"registry": "ok", "county": "ok", "demo-police": "ok"}
    one = result.records_by_identity["ident-1"]
    assert {(r.source, r.record_id) for r in one if r.source != "demo-police"} == {
        ("registry", "R-1"),
        ("registry", "R-2"),
        ("county", "1"),
        ("county", "2"),
    }
    assert [r.record_id for r in result.records_by_identity["ident-2"]] == ["R-3"]
    assert result.records_by_identity["ident-3"] == ()
    for records in result.records_by_identity.values():
        for r in records:
            assert r.source and r.record_id and r.updated_at is not None and r.retrieved_at is not None
    # newest first within a source, sources in configured order
    county = [r for r in one if r.source == "county"]
    assert [r.record_id for r in county] == ["2", "1"]
    assert [r.source for r in one] == sorted((r.source for r in one), key=broker.source_names.index)
    counts = {s.source: s.records for s in result.statuses}
    assert counts["registry"] == 3 and counts["county"] == 2


def test_fields_are_filtered_per_role_and_agency(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)])
    officer = broker.lookup(actor(Role.OFFICER), KEYS).records_by_identity["ident-1"]
    assert all(set(r.fields) <= {"summary", "status"} for r in officer if r.source == "registry")
    assert all(r.withheld_fields == ("family_name", "given_names") for r in officer if r.source == "registry")
    supervisor = broker.lookup(actor(Role.SUPERVISOR), KEYS).records_by_identity["ident-1"]
    assert all("family_name" in r.fields for r in supervisor if r.source == "registry")

    officer_b = broker.lookup(actor(Role.OFFICER, "agency-b"), KEYS)
    assert statuses(officer_b)["registry"] == "not_permitted"
    assert all(r.source != "registry" for rs in officer_b.records_by_identity.values() for r in rs)
    requests = registry.requests
    auditor = broker.lookup(actor(Role.AUDITOR), KEYS)
    assert set(statuses(auditor).values()) == {"not_permitted"}
    assert registry.requests == requests  # a source nobody may see is not even asked


def test_agencies_out_of_reach_never_see_the_source_named(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)])
    other = actor(Role.SUPERVISOR, "agency-c")
    assert "registry" not in statuses(broker.lookup(other, KEYS))
    assert [v.name for v in broker.describe(other)] == ["demo-police"]
    with pytest.raises(SourceNotFound):
        broker.health(other, "registry")


def test_a_slow_and_a_failing_source_do_not_hold_up_the_others(brokers, registry, sqlite_records_url, clock):
    registry.delay_s = 1.0
    broken_sql = ConfiguredSource(sql_source(sqlite_records_url, clock, table="gone"), POLICY)
    broker = brokers(
        [registry_source(registry.url, clock, retries=0), broken_sql, demo(clock)], timeout_s=0.3
    )
    started = time.monotonic()
    result = broker.lookup(actor(Role.SUPERVISOR), KEYS)
    elapsed = time.monotonic() - started
    assert elapsed < 0.7
    assert statuses(result) == {"registry": "timeout", "county": "error", "demo-police": "ok"}
    by_name = {s.source: s for s in result.statuses}
    assert by_name["county"].message.startswith("database error")
    assert "P-100" not in by_name["county"].message
    assert by_name["registry"].latency_ms >= 250
    assert {r.source for r in result.records_by_identity["ident-1"]} == {"demo-police"}


def test_sources_are_asked_concurrently(brokers, registry, second_registry, clock):
    registry.delay_s = second_registry.delay_s = 0.3
    broker = brokers(
        [
            registry_source(registry.url, clock),
            registry_source(second_registry.url, clock, name="registry-2"),
        ],
        timeout_s=2,
    )
    started = time.monotonic()
    result = broker.lookup(actor(Role.SUPERVISOR), KEYS)
    assert time.monotonic() - started < 0.55  # one after the other would take 0.6 s
    assert statuses(result) == {"registry": "ok", "registry-2": "ok"}
    assert len(result.records_by_identity["ident-1"]) == 4


def test_a_dead_source_opens_its_circuit_and_is_tried_again_after_the_cooldown(brokers, registry, clock):
    registry.always_status = 500
    t = FakeMonotonic()
    broker = brokers(
        [registry_source(registry.url, clock, retries=0), demo(clock)],
        circuit_failures=2,
        circuit_cooldown_s=30,
        monotonic=t,
    )
    who = actor(Role.SUPERVISOR)
    assert statuses(broker.lookup(who, KEYS))["registry"] == "error"
    assert statuses(broker.lookup(who, KEYS))["registry"] == "error"
    assert registry.requests == 2
    blocked = broker.lookup(who, KEYS)
    assert statuses(blocked) == {"registry": "circuit_open", "demo-police": "ok"}
    assert "next try in 30 s" in {s.source: s for s in blocked.statuses}["registry"].message
    assert registry.requests == 2  # not hammered
    assert broker.describe(who)[0].circuit == "open"
    t.advance(30)
    registry.always_status = None  # the source came back
    assert statuses(broker.lookup(who, KEYS))["registry"] == "ok"
    assert registry.requests == 3 and broker.describe(who)[0].circuit == "closed"


def test_federated_only_sources_answer_only_federated_queries(brokers, registry, clock):
    national = SourcePolicy(kind="operational", federated_only=True, roles={Role.SUPERVISOR: "all"})
    broker = brokers([registry_source(registry.url, clock, policy=national), demo(clock)])
    supervisor = actor(Role.SUPERVISOR)
    normal = broker.lookup(supervisor, KEYS)
    assert statuses(normal)["registry"] == "not_permitted" and registry.requests == 0
    federated = broker.lookup(supervisor, KEYS, federated=True)
    assert statuses(federated)["registry"] == "ok"
    with pytest.raises(PermissionDenied):
        broker.lookup(actor(Role.OFFICER), KEYS, federated=True)


def test_training_mode_reaches_only_demo_and_training_sources(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)])
    for who in (actor(Role.TRAINEE), actor(Role.OFFICER, training=True)):
        result = broker.lookup(who, KEYS)
        assert list(statuses(result)) == ["demo-police"]
        assert [v.name for v in broker.describe(who)] == ["demo-police"]
    assert registry.requests == 0
    trainee_view = broker.lookup(actor(Role.TRAINEE), KEYS).records_by_identity["ident-1"]
    assert trainee_view and all(set(r.fields) <= {"summary", "date", "status"} for r in trainee_view)


def test_records_of_keys_not_asked_are_never_attached(brokers, registry, clock):
    registry.leak_all = True  # a buggy source answers everything it holds
    broker = brokers([registry_source(registry.url, clock)])
    result = broker.lookup(actor(Role.SUPERVISOR), {"ident-2": [LinkedKey("national-id", "K-2")]})
    assert [r.record_id for r in result.records_by_identity["ident-2"]] == ["R-3"]
    assert result.statuses[0].records == 1


def test_keys_of_other_systems_are_not_sent_to_a_source(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock)])
    result = broker.lookup(actor(Role.SUPERVISOR), {"x": [LinkedKey("another-system", "K-1")]})
    assert statuses(result) == {"registry": "not_linked"} and registry.requests == 0


def test_describe_and_health(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)], clock=clock)
    views = {v.name: v for v in broker.describe(actor(Role.OFFICER))}
    assert views["registry"].access == "summary" and views["registry"].visible_fields == ("summary", "status")
    assert views["demo-police"].demo and views["demo-police"].kind == "demo"
    registry.delay_s = 0.5
    started = time.monotonic()
    health = {h.source: h for h in broker.health(actor(Role.OFFICER), timeout_s=0.2)}
    assert time.monotonic() - started < 0.45
    assert health["registry"].status == "timeout" and health["demo-police"].status == "ok"
    assert [h.source for h in broker.health(actor(Role.OFFICER), "demo-police")] == ["demo-police"]
    # the recommended API schemas read these values as they are
    listed = [SourceOut.model_validate(v).model_dump(mode="json") for v in views.values()]
    assert listed[0]["access"] == "summary" and listed[0]["circuit"] == "closed"
    checked = SourceHealthOut.model_validate(health["registry"]).model_dump(mode="json")
    assert checked["status"] == "timeout" and checked["checked_at"].startswith("2026-03-01T09:00")


def test_audit_details_name_what_was_shown_but_no_values(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)])
    who = actor(Role.OFFICER)
    result = broker.lookup(who, KEYS)
    event = record_access_event(
        who, result, search_id="s-1", purpose="criminal_investigation", case_number="C-1", federated=False
    )
    assert event.type is EventType.RECORD_ACCESS and event.agency_id == "agency-a"
    details = event.details
    shown = {(d["source"], d["record_id"]): d for d in details["records_shown"]}
    assert shown[("registry", "R-1")]["fields_shown"] == ["status", "summary"]
    assert shown[("registry", "R-1")]["fields_withheld"] == ["family_name", "given_names"]
    assert {s["source"]: s["status"] for s in details["sources"]} == {"registry": "ok", "demo-police": "ok"}
    text = json.dumps(details, default=str)
    assert "Quarrie" not in text and "stopped for an identity check" not in text  # values stay in the source
    # nothing asked, nothing to audit
    empty = broker.lookup(who, {"x": []})
    assert (
        record_access_event(who, empty, search_id=None, purpose=None, case_number=None, federated=False)
        is None
    )
    assert access_event_details(empty, search_id=None, federated=False)["records_shown"] == []


def test_lookup_json_is_json(brokers, registry, clock):
    broker = brokers([registry_source(registry.url, clock), demo(clock)])
    body = lookup_json(broker.lookup(actor(Role.SUPERVISOR), KEYS))
    text = json.dumps(body)
    assert body["record_sources"][0] == {
        "source": "registry",
        "status": "ok",
        "latency_ms": body["record_sources"][0]["latency_ms"],
        "message": "",
        "records": 3,
    }
    first = body["records_by_identity"]["ident-1"][0]
    assert set(first) == {
        "source",
        "record_id",
        "record_type",
        "subject_key",
        "fields",
        "withheld_fields",
        "updated_at",
        "retrieved_at",
        "demo",
    }
    assert "R-1" in text and system_key("demo-police", DEMO_KEY) in text
