"""Fingerprints through the service and the HTTP API: enrolment by finger position, 1:N search
by fingers, by face, and both fused; bad finger input refused with stable codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldid.errors import FieldIDError, InvalidRequest, NoFingerprintFound
from fieldid.fingers import FingerInput
from fieldid.service import EnrollmentInfo, ImageInput, SearchContext
from fieldid.storage.tables import Sample, Search, Template
from tests.api.conftest import auth
from tests.conftest import CTX, face, make_agency

FINGERS = Path(__file__).parent / "fixtures" / "fingers"
CTX_F = SearchContext("criminal_investigation", "F-1", "test")


def finger(name: str, position: int = 2) -> FingerInput:
    return FingerInput((FINGERS / f"fvc2000_db2_{name}.tif").read_bytes(), position, filename=name)


@pytest.fixture
def world(service):
    agency = make_agency(service, "agency-f")
    g = service.create_gallery(agency.admin, "prints")
    info = EnrollmentInfo(display_name="Pseudo A", legal_basis="test")
    a = service.enroll(agency.officer, g.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")], info,
                       fingers=[finger("101_1")]).identity
    b = service.enroll(agency.officer, g.id, [], EnrollmentInfo(legal_basis="test"),
                       fingers=[finger("102_1")]).identity
    c = service.enroll(agency.officer, g.id, [ImageInput(face("person_b_1.jpg"), "b.jpg")],
                       EnrollmentInfo(legal_basis="test")).identity
    return {"agency": agency, "gallery": g, "a": a, "b": b, "c": c}


def test_enrolment_keeps_finger_position_iso_record_and_search_key(service, world):
    with service.store.read() as s:
        rows = s.query(Template, Sample).join(Sample, Sample.id == Template.sample_id).filter(
            Template.identity_id == world["a"].id).all()
    kinds = {(t.modality, smp.finger_position) for t, smp in rows}
    assert kinds == {("face", None), ("finger", 2)}
    finger_row = next(t for t, _ in rows if t.modality == "finger")
    assert finger_row.data[:4] == b"FMR\x00" and len(finger_row.vector) > 0


def test_identify_by_finger_ranks_the_mate_first(service, world):
    r = service.identify(world["agency"].officer, [world["gallery"].id], None, CTX_F, fingers=[finger("101_2")])
    assert r.modality == "finger"
    assert r.candidates and r.candidates[0].identity_id == world["a"].id, r.reasons
    top = r.candidates[0]
    assert top.fmr < 1e-2 and top.comparisons[0].modality == "finger"
    assert r.components[0].finger_position == 2 and r.components[0].searched
    assert r.calibration.model_id.startswith("fieldid-finger")
    assert world["c"].id not in {c.identity_id for c in r.candidates}  # no prints: never a finger candidate


def test_face_and_finger_fuse_into_one_calibrated_list(service, world):
    officer, g = world["agency"].officer, world["gallery"].id
    fused = service.identify(officer, [g], face("person_a_2.jpg"), CTX_F, fingers=[finger("101_2")])
    assert fused.modality == "face+finger" and len(fused.components) == 2
    top = fused.candidates[0]
    assert top.identity_id == world["a"].id
    assert {c.modality for c in top.comparisons} == {"face", "finger"}
    assert top.score == pytest.approx(sum(c.llr for c in top.comparisons), abs=1e-3)
    face_only = service.identify(officer, [g], face("person_a_2.jpg"), CTX)
    finger_only = service.identify(officer, [g], None, CTX_F, fingers=[finger("101_2")])
    # two independent pieces of evidence: a smaller chance of a wrong person than either alone
    # (upper ends of the intervals: the finger table's point value is a tail extrapolation)
    print(top.fmr_ci95, face_only.candidates[0].fmr_ci95, finger_only.candidates[0].fmr_ci95)
    assert top.fmr_ci95[1] < face_only.candidates[0].fmr_ci95[1]
    assert top.fmr_ci95[1] < finger_only.candidates[0].fmr_ci95[1]
    assert any("fused" in reason for reason in fused.reasons)


def test_wrong_finger_position_is_not_compared(service, world):
    r = service.identify(world["agency"].officer, [world["gallery"].id], None, CTX_F,
                         fingers=[finger("101_2", position=7)], investigative=False)
    assert world["a"].id not in {c.identity_id for c in r.candidates}


def test_shortlist_path_finds_the_same_mate(service, world):
    service.settings.finger_exhaustive_max = 0  # force the search-key shortlist + exact re-rank
    r = service.identify(world["agency"].officer, [world["gallery"].id], None, CTX_F, fingers=[finger("101_2")])
    assert r.candidates and r.candidates[0].identity_id == world["a"].id


def test_prints_of_an_earlier_finger_model_are_not_searched_and_the_result_says_so(service, world):
    with service.store.write() as s:
        row = s.query(Template).filter(Template.identity_id == world["b"].id, Template.modality == "finger").one()
        row.model_id = "fieldid-finger-gaborcn-mcc16b@1"  # enrolled before the LEADER extractor
    r = service.identify(world["agency"].officer, [world["gallery"].id], None, CTX_F, fingers=[finger("102_2")])
    assert world["b"].id not in {c.identity_id for c in r.candidates}
    note = [reason for reason in r.reasons if "earlier fingerprint model" in reason]
    assert note and "1 enrolled print was" in note[0] and "gaborcn" in note[0], r.reasons
    fresh = service.identify(world["agency"].officer, [world["gallery"].id], None, CTX_F, fingers=[finger("101_2")])
    assert fresh.candidates[0].identity_id == world["a"].id


def test_print_counts_by_finger_model_on_both_databases(any_service):
    from fieldid.fingers import finger_gallery_notes, finger_model_counts

    agency = make_agency(any_service, "agency-m")
    g = any_service.create_gallery(agency.admin, "prints")
    for name in ("101_1", "102_1"):
        any_service.enroll(agency.officer, g.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")],
                           EnrollmentInfo(legal_basis="test"), fingers=[finger(name)])
    with any_service.store.write() as s:
        row = s.query(Template).filter(Template.gallery_id == g.id, Template.modality == "finger").first()
        row.model_id = "fieldid-finger-gaborcn-mcc16b@1"
    with any_service.store.read() as s:
        counts = finger_model_counts(s, [g.id])
        notes = finger_gallery_notes(s, [g.id])
    # face templates are not counted; the earlier model's print is told apart from today's
    assert counts == {"fieldid-finger-gaborcn-mcc16b@1": 1, "fieldid-finger-leader-mcc16b@1": 1}
    assert len(notes) == 1 and "1 enrolled print was" in notes[0]


def test_a_finger_search_of_a_gallery_without_prints_says_so(service, world):
    agency = world["agency"]
    faces_only = service.create_gallery(agency.admin, "faces only")
    service.enroll(agency.officer, faces_only.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")],
                   EnrollmentInfo(legal_basis="test"))
    r = service.identify(agency.officer, [faces_only.id], None, CTX_F, fingers=[finger("101_2")])
    assert not r.candidates
    assert any("No searchable fingerprints" in reason for reason in r.reasons), r.reasons
    with_prints = service.identify(agency.officer, [world["gallery"].id], None, CTX_F, fingers=[finger("101_2")])
    assert not any("No searchable fingerprints" in reason for reason in with_prints.reasons)


def test_bad_finger_input_is_refused_and_nothing_is_stored(service, world):
    officer, g = world["agency"].officer, world["gallery"].id
    with service.store.read() as s:
        before = (s.query(Template).count(), s.query(Search).count())
    not_a_print = FingerInput(face("person_c_1.jpg"), 2)
    with pytest.raises(NoFingerprintFound) as exc:
        service.identify(officer, [g], None, CTX_F, fingers=[not_a_print])
    assert exc.value.code == "no_fingerprint" and "contactless" in exc.value.message
    with pytest.raises(NoFingerprintFound):  # nor is a face photo a contactless finger photo
        service.identify(officer, [g], None, CTX_F, fingers=[FingerInput(face("person_a_1.jpg"), 2, True)])
    with pytest.raises(FieldIDError) as exc:  # not an image at all
        service.identify(officer, [g], None, CTX_F, fingers=[FingerInput(b"FMR\x00 not an image", 2)])
    assert exc.value.code == "image_unsupported_format"
    with pytest.raises(InvalidRequest):
        FingerInput(b"x", position=11)
    with pytest.raises(InvalidRequest):
        service.identify(officer, [g], None, CTX_F)  # neither face nor fingers
    with service.store.read() as s:
        assert (s.query(Template).count(), s.query(Search).count()) == before


def test_fingers_through_the_http_api(service):
    from fastapi.testclient import TestClient

    from fieldid.api import create_app

    keys = make_agency(service, "agency-h", keys=True).keys
    with TestClient(create_app(service.settings, service=service), raise_server_exceptions=False) as api:
        g = api.post("/v1/galleries", headers=auth(keys["admin"]), json={"name": "prints"}).json()
        tif = lambda n: (f"{n}.tif", (FINGERS / f"fvc2000_db2_{n}.tif").read_bytes(), "image/tiff")  # noqa: E731
        r = api.post(f"/v1/galleries/{g['id']}/identities", headers=auth(keys["officer"]),
                     files=[("fingers", tif("101_1"))], data={"legal_basis": "t", "finger_positions": "2"})
        assert r.status_code == 201, r.text
        ident = r.json()["identity"]
        assert ident["samples"][0]["modality"] == "finger" and ident["samples"][0]["finger_position"] == 2
        r = api.post(f"/v1/identities/{ident['id']}/samples", headers=auth(keys["officer"]),
                     files=[("fingers", tif("102_1"))], data={"legal_basis": "t", "finger_positions": "3"})
        assert r.status_code == 201, r.text
        r = api.post("/v1/identify", headers=auth(keys["officer"]), files=[("fingers", tif("101_2"))],
                     data={"galleries": g["id"], "finger_positions": "2", "purpose": "criminal_investigation",
                           "case_number": "H-1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["modality"] == "finger" and body["candidates"][0]["identity_id"] == ident["id"]
        assert body["candidates"][0]["comparisons"][0]["finger_position"] == 2
        bad = api.post("/v1/identify", headers=auth(keys["officer"]), files=[("fingers", tif("101_2"))],
                       data={"galleries": g["id"], "finger_positions": "2,3", "purpose": "criminal_investigation",
                             "case_number": "H-1"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        nothing = api.post("/v1/identify", headers=auth(keys["officer"]),
                           data={"galleries": g["id"], "purpose": "criminal_investigation", "case_number": "H-1"})
        assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "invalid_request"
