"""The web app's own JSON routes (/v1/web) and static serving, through HTTP (TestClient).

They use the API fixtures, so the routes are recorded for tests/api/test_zz_coverage.py
(tests/web/conftest.py runs that check last)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from fieldid.core.finger.synth import render_contactless
from tests.api.conftest import auth
from tests.conftest import FIXTURES, face

PURPOSE = {"purpose": "criminal_investigation", "case_number": "CASE-W1", "legal_basis": "t"}


def _setup(api, a):
    api.post("/v1/galleries", headers=auth(a["admin"]), json={"name": "wl"})
    ident = api.post(
        "/v1/galleries/wl/identities",
        headers=auth(a["officer"]),
        files=[("images", ("x", face("person_a_1.jpg"), "image/jpeg"))],
        data={"legal_basis": "t"},
    ).json()["identity"]["id"]
    search = api.post(
        "/v1/identify",
        headers=auth(a["officer"]),
        files={"image": ("p", face("person_a_2.jpg"), "image/jpeg")},
        data={"galleries": "wl", **PURPOSE},
    ).json()
    return ident, search


def test_config_and_frame_quality_without_searching(api, keys, service):
    assert api.get("/v1/web/config").status_code == 401
    body = api.get("/v1/web/config", headers=auth(keys["a"]["trainee"])).json()
    assert "criminal_investigation" in body["purpose_codes"] and body["training_mode"] is True
    assert body["training_purpose"] == "training" and body["federated_justification_min_chars"] >= 1

    a = keys["a"]
    r = api.post(
        "/v1/web/quality", headers=auth(a["officer"]), files={"image": ("f.jpg", face("person_a_2.jpg"))}
    )
    assert r.status_code == 200
    q = r.json()
    assert q["face_found"] and q["acceptable_for_search"] and len(q["face_box"]) == 4
    assert q["width"] == 250 and q["advice"]
    ok, blank = cv2.imencode(".jpg", np.full((240, 320, 3), 128, np.uint8))
    q = api.post(
        "/v1/web/quality", headers=auth(a["officer"]), files={"image": ("b.jpg", blank.tobytes())}
    ).json()
    assert q["face_found"] is False and q["issues"][0]["code"] == "no_face" and not q["acceptable_for_search"]
    assert (
        api.post(
            "/v1/web/quality",
            headers=auth(a["auditor"]),  # auditors never search
            files={"image": ("f.jpg", face("person_a_2.jpg"))},
        ).status_code
        == 403
    )
    corrupt = api.post(
        "/v1/web/quality", headers=auth(a["officer"]), files={"image": ("c.jpg", b"not an image")}
    )
    assert corrupt.status_code == 415 and corrupt.json()["error"]["code"] == "image_unsupported_format"
    # Nothing was searched or audited.
    events = api.get(
        "/v1/audit/events", headers=auth(a["auditor"]), params={"event_type": "search.identify"}
    ).json()
    assert events["total"] == 0

    # Fingers: the prints found in a contactless photo and their quality; no print in a blank frame.
    gray = cv2.imread(str(FIXTURES / "fingers" / "fvc2000_db2_101_2.tif"), cv2.IMREAD_GRAYSCALE)
    rgb, _ = render_contactless(gray, np.random.default_rng(11))
    photo = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    fq = api.post(
        "/v1/web/finger-quality",
        headers=auth(a["officer"]),
        files={"image": ("f.png", photo)},
        data={"capture": "contactless"},
    ).json()
    assert fq["fingers_found"] and len(fq["prints"]) == 1 and fq["prints"][0]["score"] > 0
    fq = api.post(
        "/v1/web/finger-quality",
        headers=auth(a["officer"]),
        files={"image": ("b.jpg", blank.tobytes())},
        data={"capture": "contact"},
    ).json()
    assert fq["fingers_found"] is False and fq["prints"] == [] and fq["advice"]
    assert (
        api.post(
            "/v1/web/finger-quality", headers=auth(a["auditor"]), files={"image": ("f.png", photo)}
        ).status_code
        == 403
    )

    # Accuracy: the calibration in force and the thresholds of the galleries in reach.
    b = keys["b"]
    _setup(api, a)
    body = api.get("/v1/web/accuracy", headers=auth(a["officer"])).json()
    assert body["model_id"] and body["impostor_pairs"] > 0 and len(body["curve"]) > 50
    fmrs = [p["fmr"] for p in body["curve"]]
    assert fmrs == sorted(fmrs, reverse=True)
    (g,) = body["galleries"]
    assert g["name"] == "wl" and g["gallery_size"] == 1 and 0 < g["threshold_fmr"] <= g["target_fpir"]
    assert body["evaluation"] is None
    assert api.get("/v1/web/accuracy", headers=auth(b["officer"])).json()["galleries"] == []  # tenancy
    # The latest `fieldid eval faces` results under <data_dir>/eval/ are published with it.
    out = service.settings.data_dir / "eval" / "2026-03-01"
    out.mkdir(parents=True)
    (out / "results.json").write_text(
        json.dumps(
            {
                "model_id": "m",
                "threshold": 0.9,
                "fpir_target": 0.01,
                "calibration": [{"x": 1}],
                "groups": [
                    {"group": "g1", "fmr": 0.001, "fnmr": 0.05},
                    {"group": "g2", "fmr": 0.002, "fnmr": 0.04},
                ],
            }
        )
    )
    (service.settings.data_dir / "eval" / "broken").mkdir()
    (service.settings.data_dir / "eval" / "broken" / "results.json").write_text("{not json")
    ev = api.get("/v1/web/accuracy", headers=auth(a["auditor"])).json()["evaluation"]
    assert ev["source"].endswith("2026-03-01/results.json") and ev["summary"]["threshold"] == 0.9
    assert [g["group"] for g in ev["groups"]] == ["g1", "g2"] and "calibration" not in ev["summary"]


def test_review_queue_misidentifications_and_activity(api, keys):
    a, b = keys["a"], keys["b"]
    ident, search = _setup(api, a)
    sid = search["search_id"]
    assert api.get("/v1/web/review-queue", headers=auth(a["officer2"])).json() == []
    api.post(
        f"/v1/searches/{sid}/reviews",
        headers=auth(a["officer"]),
        json={"identity_id": ident, "decision": "confirm"},
    )
    queue = api.get("/v1/web/review-queue", headers=auth(a["officer2"])).json()
    assert [(q["search_id"], q["candidate"]["identity_id"]) for q in queue] == [(sid, ident)]
    assert queue[0]["decisions_recorded"] == 1 and queue[0]["candidate"]["sample_id"]
    assert queue[0]["operating_point"]["threshold"] == search["operating_point"]["threshold"]
    assert "confirm" not in str(queue[0])  # blind: the first decision is counted, not shown
    assert api.get("/v1/web/review-queue", headers=auth(a["officer"])).json() == []  # already decided
    assert api.get("/v1/web/review-queue", headers=auth(b["officer"])).json() == []  # other agency
    assert api.get("/v1/web/review-queue", headers=auth(a["auditor"])).status_code == 403

    cid = api.post(
        "/v1/challenges",
        headers=auth(a["officer"]),
        json={"search_id": sid, "on_behalf_of": "subject", "contact": "x@example.org", "grounds": "Not me"},
    ).json()["id"]
    api.post(
        f"/v1/challenges/{cid}/resolution",
        headers=auth(a["auditor"]),
        json={"outcome": "upheld", "reasons": "Alibi checked", "identity_id": ident},
    )
    register = api.get("/v1/web/misidentifications", headers=auth(a["auditor"])).json()
    assert [(m["search_id"], m["identity_id"], m["case_number"]) for m in register] == [
        (sid, ident, "CASE-W1")
    ]
    assert api.get("/v1/web/misidentifications", headers=auth(b["auditor"])).json() == []
    assert api.get("/v1/web/misidentifications", headers=auth(a["officer"])).status_code == 403

    act = api.get("/v1/web/activity", headers=auth(a["auditor"])).json()
    assert act["agencies"]["agency-a"]["searches"] == 1 and act["agencies"]["agency-a"]["confirms"] == 1
    officer = next(o for o in act["officers"] if o["username"] == "agency-a-officer")
    assert officer["searches"] == 1 and officer["outcome_candidates"] == 1
    assert api.get("/v1/web/activity", headers=auth(b["auditor"])).json()["officers"] == []
    people = api.get("/v1/web/users", headers=auth(a["auditor"])).json()
    assert {p["agency_id"] for p in people} == {"agency-a"} and "agency-a-officer" in {
        p["username"] for p in people
    }
    assert "api_key" not in str(people)
    assert api.get("/v1/web/users", headers=auth(a["officer"])).status_code == 403
    bad = api.get(
        "/v1/web/activity",
        headers=auth(a["auditor"]),
        params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
    )
    assert bad.status_code == 422


def test_static_app_is_served_locally_with_a_strict_policy(api):
    assert api.get("/", follow_redirects=False).headers["location"] == "/field/"
    page = api.get("/field/")
    assert page.status_code == 200 and 'rel="manifest"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "http" not in page.text.replace("http-equiv", "")  # no third-party assets
    assert api.get("/field/manifest.webmanifest").json()["start_url"] == "/field/"
    assert 'startsWith("/v1/")' in api.get("/field/sw.js").text  # API responses are never cached
    assert api.get("/console/").status_code == 200
    for asset in ("app.css", "api.js", "ui.js", "chart.js"):
        r = api.get(f"/static/{asset}")
        assert r.status_code == 200 and "https://" not in r.text
    assert "/v1/web/quality" in api.get("/openapi.json").text
    assert "/field" not in str(api.get("/openapi.json").json()["paths"].keys())
