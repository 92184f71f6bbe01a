"""Linked records through the HTTP API: candidates carry their records with provenance, every
source in reach reports its status, what is shown is audited, and roles see what they may."""

from __future__ import annotations

import pytest

from fieldid.config import Settings
from fieldid.records import seed_demo_links
from fieldid.storage.tables import Identity
from tests.api.conftest import auth
from tests.conftest import face

RECORDS_YAML = """
sources:
  - name: demo-police
    type: demo
    kind: demo
    agencies: ["*"]
    summary_fields: [summary, date, status]
    access: {officer: summary, supervisor: all, trainee: summary}
    demo: {system: demo-police, seed: 20260101}
  - name: dead-registry
    type: http
    kind: operational
    key_system: demo-police
    agencies: ["*"]
    timeout_s: 0.5
    access: {officer: all, supervisor: all}
    http:
      base_url: http://127.0.0.1:9
      lookup_path: /lookup
      keys_field: subject_keys
      retries: 0
      request_timeout_s: 0.3
      mapping: {records_path: records, record_id: id, subject_key: key, fields: {summary: summary}}
"""
PURPOSE = {"purpose": "criminal_investigation", "case_number": "R-1", "legal_basis": "test"}
DEMO_KEY = "demo-0123456789a9"  # the synthetic demo-police source holds 3 records for it


@pytest.fixture
def settings(tmp_path) -> Settings:
    config = tmp_path / "records.yaml"
    config.write_text(RECORDS_YAML)
    return Settings(data_dir=tmp_path / "data", environment="test", records_config=config)


@pytest.fixture
def linked(api, keys, service):
    a = keys["a"]
    g = api.post("/v1/galleries", headers=auth(a["admin"]), json={"name": "records-gallery"}).json()
    r = api.post(f"/v1/galleries/{g['id']}/identities", headers=auth(a["officer"]),
                 files=[("images", ("x", face("person_a_1.jpg"), "image/jpeg"))],
                 data={"legal_basis": "t", "display_name": "Pseudo Person", "subject_key": DEMO_KEY})
    assert r.status_code == 201, r.text
    ident = r.json()["identity"]
    with service.store.write() as s:
        assert seed_demo_links(s, [s.get(Identity, ident["id"])], now=service.clock.now()) >= 1
    return {"gallery": g, "identity": ident}


def _identify(api, key, gallery_id):
    r = api.post("/v1/identify", headers=auth(key), files={"image": ("p", face("person_a_2.jpg"), "image/jpeg")},
                 data={"galleries": gallery_id, **PURPOSE})
    assert r.status_code == 200, r.text
    return r.json()


def test_candidates_carry_linked_records_with_provenance_and_the_access_is_audited(api, keys, linked):
    body = _identify(api, keys["a"]["officer"], linked["gallery"]["id"])
    assert body["candidates"], body
    top = body["candidates"][0]
    assert top["identity_id"] == linked["identity"]["id"]
    assert top["records"], "the linked demo person has synthetic records"
    for rec in top["records"]:
        assert rec["source"] == "demo-police" and rec["demo"] is True
        assert rec["retrieved_at"] and rec["record_id"]
        # an officer sees a summary: some fields are withheld, and those are named
        assert set(rec["fields"]) <= {"summary", "date", "status"}
    # a dead source never fails the search: its status says so, the others' records are there
    statuses = {s["source"]: s["status"] for s in body["record_sources"]}
    assert statuses["demo-police"] == "ok" and statuses["dead-registry"] in ("error", "timeout")

    events = api.get("/v1/audit/events", headers=auth(keys["a"]["auditor"]),
                     params={"event_type": "record.access"}).json()["events"]
    access = [e for e in events if e["details"]["search_id"] == body["search_id"]]
    assert len(access) == 1
    shown = access[0]["details"]["records_shown"]
    assert {x["record_id"] for x in shown} == {r["record_id"] for r in top["records"]}
    assert all("fields_shown" in x for x in shown)  # names of fields, never their values
    assert "summary" not in {k for x in shown for k in x if k != "fields_shown"}


def test_supervisor_sees_more_fields_than_an_officer(api, keys, linked):
    officer = _identify(api, keys["a"]["officer"], linked["gallery"]["id"])["candidates"][0]["records"]
    supervisor = _identify(api, keys["a"]["supervisor"], linked["gallery"]["id"])["candidates"][0]["records"]
    assert {r["record_id"] for r in officer} == {r["record_id"] for r in supervisor}
    assert sum(len(r["fields"]) for r in supervisor) > sum(len(r["fields"]) for r in officer)
    assert all(r["withheld_fields"] == [] for r in supervisor)


def test_no_candidate_means_no_record_lookup(api, keys, linked):
    body = _identify_other(api, keys["a"]["officer"], linked["gallery"]["id"])
    assert body["candidates"] == [] and body["record_sources"] == []


def _identify_other(api, key, gallery_id):
    r = api.post("/v1/identify", headers=auth(key), files={"image": ("p", face("person_c_1.jpg"), "image/jpeg")},
                 data={"galleries": gallery_id, **PURPOSE})
    assert r.status_code == 200, r.text
    return r.json()


def test_source_list_and_health(api, keys):
    officer, auditor = keys["a"]["officer"], keys["a"]["auditor"]
    sources = api.get("/v1/sources", headers=auth(officer)).json()
    assert [s["name"] for s in sources] == ["demo-police", "dead-registry"]
    assert sources[0]["access"] == "summary" and sources[0]["demo"] is True
    assert set(sources[0]["visible_fields"]) <= {"summary", "date", "status"}
    assert api.get("/v1/sources", headers=auth(auditor)).json()[0]["access"] == "none"
    assert api.get("/v1/sources/dead-registry/health", headers=auth(officer)).json()["status"] in ("error", "timeout")

    health = api.get("/v1/sources/demo-police/health", headers=auth(officer))
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    everything = api.get("/v1/sources/health", headers=auth(officer)).json()
    assert [h["source"] for h in everything] == ["demo-police", "dead-registry"]
    missing = api.get("/v1/sources/no-such-source/health", headers=auth(officer))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "source_not_found"
    assert api.get("/v1/sources").status_code == 401
