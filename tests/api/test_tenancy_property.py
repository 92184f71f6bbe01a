"""Property: no sequence of API calls by agency A reveals anything of agency B.

Agency B has a gallery, an identity, a search with a candidate, a review, a challenge and audit
events. Hypothesis drives random sequences of calls by agency A's users (every role) that aim
at B's resources by id and by name; every response must be free of B's identifiers, and B's
resources must answer exactly as missing ones do (never "forbidden", which would confirm they exist).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import auth
from tests.conftest import face

PURPOSE = {"purpose": "criminal_investigation", "case_number": "B-SECRET-CASE-9", "legal_basis": "t"}


@pytest.fixture
def b_world(api, keys):
    b = keys["b"]
    g = api.post("/v1/galleries", headers=auth(b["admin"]), json={"name": "b-secret-gallery"}).json()
    enrolled = api.post(f"/v1/galleries/{g['id']}/identities", headers=auth(b["officer"]),
                        files=[("images", ("x", face("person_b_1.jpg"), "image/jpeg"))],
                        data={"legal_basis": "t", "display_name": "B Secret Name", "subject_key": "B-KEY-1"}).json()
    ident = enrolled["identity"]
    search = api.post("/v1/identify", headers=auth(b["officer"]),
                      files={"image": ("p", face("person_b_2.jpg"), "image/jpeg")},
                      data={"galleries": g["id"], **PURPOSE}).json()
    assert search["candidates"], search
    api.post(f"/v1/searches/{search['search_id']}/reviews", headers=auth(b["officer"]),
             json={"identity_id": ident["id"], "decision": "confirm"})
    challenge = api.post("/v1/challenges", headers=auth(b["officer"]),
                         json={"search_id": search["search_id"], "on_behalf_of": "subject", "contact": "b@x",
                               "grounds": "B grounds"}).json()
    a = keys["a"]
    api.post("/v1/galleries", headers=auth(a["admin"]), json={"name": "a-gallery"})
    secrets = {g["id"], "b-secret-gallery", ident["id"], ident["pseudonym"], "B Secret Name", "B-KEY-1",
               search["search_id"], "B-SECRET-CASE-9", challenge["id"], ident["samples"][0]["id"], "agency-b"}
    return {"gallery": g, "identity": ident, "search": search, "challenge": challenge, "secrets": secrets,
            "sample": ident["samples"][0]["id"]}


def calls(w):
    g, i, s, c, sample = w["gallery"]["id"], w["identity"]["id"], w["search"]["search_id"], w["challenge"]["id"], w["sample"]
    img = {"image": ("p", face("person_b_2.jpg"), "image/jpeg")}
    return {
        "list_galleries": ("GET", "/v1/galleries", {}),
        "gallery_by_id": ("GET", f"/v1/galleries/{g}", {}),
        "gallery_by_name": ("GET", "/v1/galleries/b-secret-gallery", {}),
        "gallery_by_owner_name": ("GET", "/v1/galleries/agency-b/b-secret-gallery", {}),
        "identities_of_b": ("GET", f"/v1/galleries/{g}/identities", {}),
        "identity": ("GET", f"/v1/identities/{i}", {}),
        "thumbnail": ("GET", f"/v1/samples/{sample}/thumbnail", {}),
        "search_receipt": ("GET", f"/v1/searches/{s}", {}),
        "review_status": ("GET", f"/v1/searches/{s}/reviews/{i}", {}),
        "review": ("POST", f"/v1/searches/{s}/reviews", {"json": {"identity_id": i, "decision": "reject"}}),
        "evidence": ("POST", f"/v1/searches/{s}/evidence", {"json": {"identity_id": i, "kind": "other",
                                                                      "description": "x", "blocks_confirmation": True}}),
        "challenge": ("POST", "/v1/challenges", {"json": {"search_id": s, "on_behalf_of": "subject", "contact": "a",
                                                          "grounds": "g"}}),
        "challenge_get": ("GET", f"/v1/challenges/{c}", {}),
        "challenge_resolve": ("POST", f"/v1/challenges/{c}/resolution", {"json": {"outcome": "dismissed", "reasons": "r"}}),
        "challenges": ("GET", "/v1/challenges", {"params": {"status": "open"}}),
        "audit": ("GET", "/v1/audit/events", {"params": {"case_number": "B-SECRET-CASE-9"}}),
        "audit_all": ("GET", "/v1/audit/events", {"params": {"limit": 1000}}),
        "audit_by_agency": ("GET", "/v1/audit/events", {"params": {"agency": "agency-b"}}),
        "audit_export": ("GET", "/v1/audit/export", {}),
        "transparency": ("GET", "/v1/reports/transparency",
                         {"params": {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z", "agency": "agency-b"}}),
        "sharing": ("GET", "/v1/sharing", {}),
        "identify_b": ("POST", "/v1/identify", {"files": img, "data": {"galleries": g, **PURPOSE}}),
        "verify_b": ("POST", "/v1/verify", {"files": img, "data": {"identity_id": i, **PURPOSE}}),
        "delete_b": ("DELETE", f"/v1/identities/{i}", {"params": {"reason": "x"}}),
        "patch_b": ("PATCH", f"/v1/galleries/{g}", {"json": {"target_fpir": 0.2}}),
        "key_for_b_user": ("POST", "/v1/users/agency-b-officer/api-keys", {}),
        "share_b": ("POST", "/v1/sharing", {"json": {"gallery": g, "grantee_agency_id": "agency-a",
                                                     "purposes": ["missing_person"],
                                                     "expires_at": "2099-01-01T00:00:00Z", "reference": "x"}}),
        "enrol_into_b": ("POST", f"/v1/galleries/{g}/identities",
                         {"files": [("images", ("x", face("person_a_1.jpg"), "image/jpeg"))], "data": {"legal_basis": "t"}}),
        "me": ("GET", "/v1/me", {}),
    }


ROLES = ["officer", "officer2", "supervisor", "auditor", "admin", "trainee"]


def test_agency_a_never_sees_agency_b(api, keys, b_world):
    table = calls(b_world)

    ever_sent: list[str] = []  # A's own audit trail records what A sent, across examples

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(sorted(table)), st.sampled_from(ROLES)), min_size=1, max_size=8))
    def run(sequence):
        for name, role in sequence:
            method, url, kwargs = table[name]
            r = api.request(method, url, headers=auth(keys["a"][role]), **kwargs)
            assert r.status_code < 500, (name, role, r.text)
            body = r.text
            sent = url + repr({k: v for k, v in kwargs.items() if k != "files"})
            ever_sent.append(sent)
            # An error may echo what the caller sent (it is answered as for any unknown id), and
            # A's own audit events record what A's users sent earlier (their purpose, case number,
            # the ids they asked for); anything else of B in a response is a leak.
            if name.startswith("audit") and r.status_code == 200:
                if name == "audit_export":
                    events = [json.loads(line) for line in body.splitlines() if line]
                else:
                    events = r.json()["events"]
                    assert all(e["agency_id"] == "agency-a" for e in events), (name, role, body[:300])
                echoes = "\n".join(ever_sent)
            else:
                echoes = sent
            leaked = [x for x in b_world["secrets"] if x in body and x not in echoes]
            assert not leaked, f"{name} as {role} leaked {leaked}: {body[:300]}"
            if r.status_code == 403:
                # Only role refusals, decided before any lookup, may say "forbidden".
                assert r.json()["error"]["code"] in ("forbidden", "training_mode"), (name, role, body)

    run()
    # and B's data is untouched by all of it
    b = keys["b"]
    assert api.get(f"/v1/identities/{b_world['identity']['id']}", headers=auth(b["officer"])).status_code == 200
    challenge = api.get(f"/v1/challenges/{b_world['challenge']['id']}", headers=auth(b["auditor"])).json()
    assert challenge["status"] == "open"
