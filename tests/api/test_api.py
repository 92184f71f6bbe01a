"""The HTTP API through TestClient: auth, roles, enrolment, identify, verify, errors, schema."""

from __future__ import annotations

import pytest

from fieldid.api import create_app
from tests.api.conftest import EXERCISED, auth
from tests.conftest import face

PURPOSE = {"purpose": "criminal_investigation", "case_number": "CASE-77", "legal_basis": "test"}


def enrol(api, key, gallery, *names, **fields):
    files = [("images", (n, face(n), "image/jpeg")) for n in names]
    return api.post(f"/v1/galleries/{gallery}/identities", headers=auth(key), files=files,
                    data={"legal_basis": "consent:test", **fields})


def identify(api, key, gallery, name, **fields):
    return api.post("/v1/identify", headers=auth(key), files={"image": (name, face(name), "image/jpeg")},
                    data={"galleries": gallery, **PURPOSE, **fields})


@pytest.fixture
def watchlist(api, keys):
    r = api.post("/v1/galleries", headers=auth(keys["a"]["admin"]), json={"name": "watchlist", "target_fpir": 0.01})
    assert r.status_code == 201, r.text
    return r.json()


def test_health_is_open_and_does_not_load_models(api, service):
    r = api.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["database"] == "sqlite"


def test_models_load_lazily(tmp_path):
    from fieldid.config import Settings
    from fieldid.service import FieldID
    from fieldid.storage.memory_index import MemoryIndex
    from fieldid.storage.sql import SqlStore

    settings = Settings(data_dir=tmp_path)
    svc = FieldID(settings, SqlStore("sqlite://"), MemoryIndex())
    create_app(settings, service=svc)
    assert not svc.face_models.loaded


def test_authentication_required_and_checked(api, keys):
    assert api.get("/v1/galleries").json()["error"]["code"] == "unauthenticated"
    assert api.get("/v1/galleries").status_code == 401
    bad = keys["a"]["officer"][:-4] + "AAAA"
    assert api.get("/v1/galleries", headers=auth(bad)).status_code == 401
    assert api.get("/v1/galleries", headers=auth("not-a-key")).status_code == 401
    me = api.get("/v1/me", headers={"X-API-Key": keys["a"]["officer"]})
    assert me.status_code == 200 and me.json()["role"] == "officer" and "search" in me.json()["permissions"]


def test_roles_are_enforced_per_route(api, keys, watchlist):
    r = api.post("/v1/galleries", headers=auth(keys["a"]["officer"]), json={"name": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert identify(api, keys["a"]["auditor"], "watchlist", "person_a_1.jpg").status_code == 403
    assert api.get("/v1/users", headers=auth(keys["a"]["officer"])).status_code == 403


def test_enrol_identify_verify_delete_round_trip(api, keys, watchlist):
    officer, supervisor = keys["a"]["officer"], keys["a"]["supervisor"]
    r = enrol(api, officer, "watchlist", "person_a_1.jpg", display_name="Test Person", subject_key="K-1")
    assert r.status_code == 201, r.text
    body = r.json()
    identity = body["identity"]["id"]
    assert body["accepted"] == 1 and body["rejected"] == [] and body["identity"]["pseudonym"].startswith("FID-")
    assert enrol(api, officer, "watchlist", "person_b_1.jpg").status_code == 201

    r = identify(api, officer, "watchlist", "person_a_2.jpg")
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["outcome"] == "candidates" and result["gallery_size"] == 2
    top = result["candidates"][0]
    assert top["identity_id"] == identity and top["display_name"] == "Test Person"
    for key in ("score", "fmr", "fmr_ci95", "expected_false_candidates", "strength", "explanation", "tier"):
        assert key in top
    assert result["operating_point"]["threshold"] > 0 and result["purpose"] == "criminal_investigation"

    receipt = api.get(f"/v1/searches/{result['search_id']}", headers=auth(officer))
    assert receipt.status_code == 200 and receipt.json()["case_number"] == "CASE-77"

    thumb = api.get(f"/v1/samples/{top['sample_id']}/thumbnail", headers=auth(officer))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"

    r = api.post("/v1/verify", headers=auth(officer), files={"image": ("p", face("person_a_2.jpg"), "image/jpeg")},
                 data={"identity_id": identity, **PURPOSE})
    assert r.status_code == 200 and r.json()["assessment"] == "supports_same_person"

    r = api.post(f"/v1/identities/{identity}/samples", headers=auth(officer),
                 files=[("images", ("a2", face("person_a_2.jpg"), "image/jpeg"))], data={"legal_basis": "consent:test"})
    assert r.status_code == 201 and len(r.json()["identity"]["samples"]) == 2

    ids = api.get("/v1/galleries/watchlist/identities", headers=auth(officer)).json()
    assert {i["id"] for i in ids} >= {identity}
    assert api.get(f"/v1/identities/{identity}", headers=auth(officer)).json()["subject_key"] == "K-1"

    assert api.delete(f"/v1/identities/{identity}", headers=auth(officer), params={"reason": "x"}).status_code == 403
    assert api.delete(f"/v1/identities/{identity}", headers=auth(supervisor),
                      params={"reason": "consent withdrawn"}).status_code == 204
    r = api.get(f"/v1/identities/{identity}", headers=auth(officer))
    assert r.status_code == 404 and r.json()["error"]["code"] == "identity_not_found"


def test_identify_requires_purpose_and_case(api, keys, watchlist):
    r = api.post("/v1/identify", headers=auth(keys["a"]["officer"]),
                 files={"image": ("p", face("person_a_1.jpg"), "image/jpeg")}, data={"galleries": "watchlist"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "purpose_required"


def test_bad_inputs_get_stable_codes_and_store_nothing(api, keys, watchlist, service):
    officer = keys["a"]["officer"]
    assert enrol(api, officer, "watchlist", "person_a_1.jpg").status_code == 201
    before = service.get_gallery(service.actor_for("agency-a-officer"), "watchlist")

    def probe(data: bytes):
        return api.post("/v1/identify", headers=auth(officer), files={"image": ("p", data, "image/jpeg")},
                        data={"galleries": "watchlist", **PURPOSE})

    cases = {
        b"": ("image_empty", 400),
        b"GIF89a....": ("image_unsupported_format", 415),
        face("person_a_1.jpg")[:800]: ("image_corrupt", 422),
    }
    for data, (code, status) in cases.items():
        r = probe(data)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    r = api.post("/v1/galleries", headers={**auth(keys["a"]["admin"]), "Content-Type": "application/json"},
                 content=b"{not json")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = api.post("/v1/identify", headers=auth(officer), data={"galleries": "watchlist", **PURPOSE})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = identify(api, officer, "no-such-gallery", "person_a_1.jpg")
    assert r.status_code == 404 and r.json()["error"]["code"] == "gallery_not_found"
    r = api.get("/v1/identities/00000000-0000-0000-0000-000000000000", headers=auth(officer))
    assert r.json()["error"]["code"] == "identity_not_found"
    r = identify(api, officer, "watchlist", "person_a_1.jpg", top_k="500")
    assert r.status_code == 422
    after = service.get_gallery(service.actor_for("agency-a-officer"), "watchlist")
    assert (after.identity_count, after.version) == (before.identity_count, before.version)


def test_request_body_limit(keys, service):
    from fastapi.testclient import TestClient

    small = create_app(service.settings.model_copy(update={"max_request_bytes": 4_000}), service=service)
    with TestClient(small) as client:
        r = identify(client, keys["a"]["officer"], "watchlist", "person_a_1.jpg")
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        # streamed without a declared length: cut off while reading
        chunks = (b"x" * 4096 for _ in range(10))
        r = client.post("/v1/galleries", headers=auth(keys["a"]["admin"]), content=chunks)
        assert r.status_code == 413


def test_other_agency_gets_not_found_never_forbidden(api, keys, watchlist):
    r = enrol(api, keys["a"]["officer"], "watchlist", "person_a_1.jpg")
    identity = r.json()["identity"]["id"]
    other = keys["b"]["officer"]
    assert identify(api, other, watchlist["id"], "person_a_2.jpg").json()["error"]["code"] == "gallery_not_found"
    assert api.get(f"/v1/identities/{identity}", headers=auth(other)).status_code == 404
    assert api.get(f"/v1/galleries/{watchlist['id']}", headers=auth(other)).status_code == 404
    assert api.get("/v1/galleries", headers=auth(other)).json() == []
    sample = api.get(f"/v1/identities/{identity}", headers=auth(keys["a"]["officer"])).json()["samples"][0]["id"]
    assert api.get(f"/v1/samples/{sample}/thumbnail", headers=auth(other)).status_code == 404


def test_users_and_keys_by_agency_admin(api, keys):
    admin = keys["a"]["admin"]
    r = api.post("/v1/users", headers=auth(admin), json={"username": "new-officer", "role": "officer"})
    assert r.status_code == 201 and r.json()["agency_id"] == "agency-a"
    r = api.post("/v1/users", headers=auth(admin), json={"username": "x", "role": "officer", "agency_id": "agency-b"})
    assert r.status_code == 403
    issued = api.post("/v1/users/new-officer/api-keys", headers=auth(admin)).json()["api_key"]
    assert api.get("/v1/me", headers=auth(issued)).json()["username"] == "new-officer"
    assert "new-officer" in {u["username"] for u in api.get("/v1/users", headers=auth(admin)).json()}
    assert api.post("/v1/users/agency-b-officer/api-keys", headers=auth(admin)).status_code == 404


def test_gallery_update_and_listing(api, keys, watchlist):
    admin = keys["a"]["admin"]
    r = api.patch("/v1/galleries/watchlist", headers=auth(admin), json={"target_fpir": 0.001})
    assert r.status_code == 200 and r.json()["target_fpir"] == 0.001
    assert api.get("/v1/galleries/watchlist", headers=auth(keys["a"]["officer"])).json()["name"] == "watchlist"
    r = api.post("/v1/galleries", headers=auth(admin), json={"name": "watchlist"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "gallery_exists"


def test_public_schemas_carry_no_embeddings_and_no_boolean_match(api):
    spec = api.get("/openapi.json").json()
    forbidden_names = ("embedding", "vector", "template", "descriptor")
    for name, schema in spec["components"]["schemas"].items():
        for prop, definition in (schema.get("properties") or {}).items():
            assert not any(f in prop.lower() for f in forbidden_names), f"{name}.{prop}"
            if definition.get("type") == "boolean":
                assert "match" not in prop.lower() and prop not in ("hit", "found", "identified"), f"{name}.{prop}"
