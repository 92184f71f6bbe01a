"""The accountability endpoints through HTTP."""

from __future__ import annotations

from fieldid.governance.admin import SYSTEM
from tests.api.conftest import auth
from tests.conftest import face

PURPOSE = {"purpose": "criminal_investigation", "case_number": "CASE-9", "legal_basis": "t"}


def test_review_challenge_audit_report_flow(api, keys, service):
    a, b = keys["a"], keys["b"]
    api.post("/v1/galleries", headers=auth(a["admin"]), json={"name": "wl"})
    ident = api.post("/v1/galleries/wl/identities", headers=auth(a["officer"]),
                     files=[("images", ("x", face("person_a_1.jpg"), "image/jpeg"))],
                     data={"legal_basis": "t"}).json()["identity"]["id"]
    search = api.post("/v1/identify", headers=auth(a["officer"]),
                      files={"image": ("p", face("person_a_2.jpg"), "image/jpeg")},
                      data={"galleries": "wl", **PURPOSE}).json()
    sid = search["search_id"]

    r = api.post(f"/v1/searches/{sid}/reviews", headers=auth(a["officer"]),
                 json={"identity_id": ident, "decision": "confirm"})
    assert r.status_code == 201 and r.json()["state"] == "pending"
    assert api.post(f"/v1/searches/{sid}/reviews", headers=auth(a["officer"]),
                    json={"identity_id": ident, "decision": "confirm"}).status_code == 409
    blind = api.get(f"/v1/searches/{sid}/reviews/{ident}", headers=auth(a["officer2"])).json()
    assert blind["decisions"] == [] and blind["decisions_recorded"] == 1
    r = api.post(f"/v1/searches/{sid}/reviews", headers=auth(a["officer2"]),
                 json={"identity_id": ident, "decision": "confirm"})
    assert r.json()["state"] == "confirmed"
    r = api.post(f"/v1/searches/{sid}/evidence", headers=auth(a["supervisor"]),
                 json={"identity_id": ident, "kind": "identity_document", "description": "Passport in another name",
                       "blocks_confirmation": True})
    assert r.status_code == 201 and r.json()["state"] == "blocked"

    r = api.post("/v1/challenges", headers=auth(a["admin"]),
                 json={"search_id": sid, "on_behalf_of": "advocate", "contact": "adv@example.org", "grounds": "Wrong person"})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert [c["id"] for c in api.get("/v1/challenges", headers=auth(a["auditor"])).json()] == [cid]
    assert api.get(f"/v1/challenges/{cid}", headers=auth(a["admin"])).json()["status"] == "open"
    r = api.post(f"/v1/challenges/{cid}/resolution", headers=auth(a["auditor"]),
                 json={"outcome": "upheld", "reasons": "Document checked", "identity_id": ident})
    assert r.status_code == 200 and r.json()["status"] == "upheld"

    page = api.get("/v1/audit/events", headers=auth(a["auditor"]), params={"case_number": "CASE-9"}).json()
    assert page["total"] >= 5 and all(e["agency_id"] == "agency-a" for e in page["events"])
    assert api.get("/v1/audit/events", headers=auth(a["officer"])).status_code == 403
    export = api.get("/v1/audit/export", headers=auth(a["auditor"]))
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    assert len(export.text.strip().splitlines()) >= 5
    chain = api.get("/v1/audit/chain", headers=auth(a["auditor"])).json()
    assert chain["intact"] and chain["breaks"] == []
    rows = api.get("/v1/reports/transparency", headers=auth(a["auditor"]),
                   params={"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}).json()
    assert rows[0]["agency_id"] == "agency-a" and rows[0]["overturned_results"] == 1 and rows[0]["confirmations"] == 0
    assert api.get("/v1/reports/transparency", headers=auth(b["auditor"]),
                   params={"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}).json() == []


def test_sharing_authorization_federated_training_retention(api, keys, service):
    a, b = keys["a"], keys["b"]
    api.post("/v1/galleries", headers=auth(b["admin"]), json={"name": "b-wl"})
    api.post("/v1/galleries/b-wl/identities", headers=auth(b["officer"]),
             files=[("images", ("x", face("person_b_1.jpg"), "image/jpeg"))], data={"legal_basis": "t"})
    r = api.post("/v1/sharing", headers=auth(b["admin"]),
                 json={"gallery": "b-wl", "grantee_agency_id": "agency-a", "purposes": ["criminal_investigation"],
                       "expires_at": "2099-01-01T00:00:00Z", "reference": "MoU-1"})
    assert r.status_code == 201
    agreement = r.json()["id"]
    assert [s["id"] for s in api.get("/v1/sharing", headers=auth(a["officer"])).json()] == [agreement]
    r = api.post("/v1/identify/federated", headers=auth(a["supervisor"]),
                 files={"image": ("p", face("person_b_2.jpg"), "image/jpeg")},
                 data={**PURPOSE, "justification": "Abduction in progress; every lawful source is needed."})
    assert r.status_code == 200 and r.json()["federated"] and r.json()["candidates"]
    assert api.post("/v1/identify/federated", headers=auth(a["officer"]),
                    files={"image": ("p", face("person_b_2.jpg"), "image/jpeg")}, data=PURPOSE).status_code == 403
    assert api.delete(f"/v1/sharing/{agreement}", headers=auth(b["admin"])).status_code == 204

    r = api.post("/v1/authorizations", headers=auth(a["supervisor"]),
                 json={"reference": "WARRANT-1", "expires_at": "2099-01-01T00:00:00Z", "case_number": "CASE-9"})
    assert r.status_code == 201 and r.json()["reference"] == "WARRANT-1"
    again = api.post("/v1/authorizations", headers=auth(a["supervisor"]),  # found by schemathesis: was a 500
                     json={"reference": "WARRANT-1", "expires_at": "2099-01-01T00:00:00Z"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    r = api.put("/v1/me/training-mode", headers=auth(a["officer"]), json={"on": True})
    assert r.status_code == 200 and r.json()["training_mode"] is True
    assert api.get("/v1/me", headers=auth(a["officer"])).json()["training_mode"] is True

    service.create_user(SYSTEM, "root", "system_admin", agency_id="agency-a")
    root = service.issue_api_key(SYSTEM, "root").api_key
    r = api.post("/v1/retention/run", headers=auth(root))
    assert r.status_code == 200 and r.json()["probe_images_purged"] == 0
    assert api.post("/v1/retention/run", headers=auth(a["admin"])).status_code == 403
