"""The service end to end on real faces: enrolment, identification, verification, deletion,
atomicity across database and index, tenancy, purpose and audit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select

from fieldid.errors import (
    CorruptImage,
    GalleryNotFound,
    IdentityNotFound,
    NoFaceFound,
    NoUsableSample,
    PermissionDenied,
    PossibleDuplicate,
    PurposeInvalid,
    PurposeRequired,
)
from fieldid.governance.audit import verify_chain
from fieldid.imaging import encode_jpeg
from fieldid.service import EnrollmentInfo, ImageInput, SearchContext
from fieldid.storage.base import space_key
from fieldid.storage.tables import AuditEvent, Identity, ProbeImage, Sample, Search, Template
from tests.conftest import CTX, face, make_agency

INFO = EnrollmentInfo(display_name="Person A (test)", subject_key="rec-1", source="test-station",
                      legal_basis="consent:form-17")


def img(name: str) -> ImageInput:
    return ImageInput(face(name), name)


def blank_jpeg() -> bytes:
    return encode_jpeg(np.full((120, 120, 3), 200, np.uint8))


def counts(service) -> dict[str, int]:
    with service.store.read() as s:
        return {t.__tablename__: s.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (Identity, Sample, Template, Search, ProbeImage)}


def index_size(service) -> int:
    return sum(service.index.count(sp) for sp in service.index.spaces())


@pytest.fixture
def gallery(service, agency):
    return service.create_gallery(agency.admin, "watchlist", target_fpir=0.01)


def test_enrol_then_identify_the_same_person(service, agency, gallery):
    enrolled = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")],
                   EnrollmentInfo(legal_basis="consent:form-18"))
    assert enrolled.accepted == 1 and enrolled.rejected == ()
    assert enrolled.identity.pseudonym.startswith("FID-")
    result = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert result.outcome == "candidates"
    top = result.candidates[0]
    assert top.identity_id == enrolled.identity.id and top.rank == 1
    assert top.tier == "candidate"
    assert 0 < top.fmr < 1e-3
    assert top.expected_false_candidates == pytest.approx(2 * top.fmr)
    assert result.gallery_size == 2
    assert result.operating_point.fpir_target == 0.01
    assert result.calibration.model_id == "dlib-resnet-v1-flip-lm5p25-lm5p35@1"
    assert result.quality.acceptable_for_search
    assert all(c.identity_id != "" for c in result.candidates)


def test_stranger_gets_no_candidate(service, agency, gallery):
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    result = service.identify(agency.officer, ["watchlist"], face("person_c_1.jpg"), CTX)
    assert result.outcome == "no_candidate" and result.candidates == ()
    assert any("does not mean the person is not enrolled" in r for r in result.reasons)


def test_investigative_list_needs_permission_and_labels_leads(service, agency, gallery):
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    with pytest.raises(PermissionDenied):
        service.identify(agency.officer, ["watchlist"], face("person_c_1.jpg"), CTX, investigative=True)
    result = service.identify(agency.supervisor, ["watchlist"], face("person_c_1.jpg"), CTX, investigative=True)
    assert result.outcome == "investigative_list" and result.investigative
    assert [c.tier for c in result.candidates] == ["investigative_lead"]


def test_low_quality_probe_is_not_searched(service, agency, gallery):
    import cv2

    from fieldid.imaging import decode_image

    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    blurred = cv2.GaussianBlur(decode_image(face("person_a_2.jpg")).rgb, (0, 0), 4)
    result = service.identify(agency.officer, ["watchlist"], encode_jpeg(blurred), CTX)
    assert result.outcome == "under_quality" and result.candidates == ()
    assert not result.quality.acceptable_for_search
    assert "blurred" in {i.code for i in result.quality.issues}


def test_search_needs_purpose_and_case(service, agency, gallery):
    for ctx in (SearchContext("", "C-1"), SearchContext("criminal_investigation", ""), SearchContext(" ", " ")):
        with pytest.raises(PurposeRequired) as e:
            service.identify(agency.officer, ["watchlist"], face("person_a_1.jpg"), ctx)
        assert e.value.code == "purpose_required"
    with pytest.raises(PurposeInvalid):
        service.identify(agency.officer, ["watchlist"], face("person_a_1.jpg"), SearchContext("curiosity", "C-1"))


def test_every_search_is_audited_with_its_context(service, agency, gallery):
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    result = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    with service.store.read() as s:
        row = s.execute(select(AuditEvent).where(AuditEvent.event_type == "search.identify")).scalar_one()
        search = s.get(Search, result.search_id)
        probe = s.get(ProbeImage, result.search_id)
        chain = verify_chain(s)
    payload = json.loads(row.payload)
    assert row.actor_id == agency.officer.user_id and row.agency_id == "agency-a"
    assert row.purpose == "criminal_investigation" and row.case_number == "CASE-2026-001"
    assert payload["gallery_size"] == 1 and payload["model_id"] == "dlib-resnet-v1-flip-lm5p25-lm5p35@1"
    assert payload["candidates"][0]["identity_id"] == result.candidates[0].identity_id
    assert payload["calibration_version"] == result.calibration.version
    assert search is not None and search.outcome == "candidates"
    assert probe is not None and probe.expires_at > search.created_at
    assert chain.intact and chain.events >= 3


def test_bad_probe_gives_error_code_audit_and_stores_nothing(service, agency, gallery):
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    before = counts(service)
    with pytest.raises(CorruptImage):
        service.identify(agency.officer, ["watchlist"], b"\xff\xd8\xff\xe0garbage", CTX)
    with pytest.raises(NoFaceFound):
        service.identify(agency.officer, ["watchlist"], blank_jpeg(), CTX)
    assert counts(service) == before
    with service.store.read() as s:
        refused = s.execute(select(AuditEvent).where(AuditEvent.event_type == "search.refused")).scalars().all()
    assert [json.loads(r.payload)["error"] for r in refused] == ["image_corrupt", "no_face"]


def test_enrolment_reports_rejected_images(service, agency, gallery):
    result = service.enroll(agency.officer, "watchlist",
                            [img("person_a_1.jpg"), ImageInput(blank_jpeg(), "blank.jpg"),
                             ImageInput(b"not an image", "x.txt"), img("person_a_2.jpg")], INFO)
    assert result.accepted == 2
    assert [(r.index, r.code) for r in result.rejected] == [(1, "no_face"), (2, "image_unsupported_format")]
    assert len(result.identity.samples) == 2
    assert index_size(service) == 2


def test_enrolment_with_no_usable_image_stores_nothing(service, agency, gallery):
    with pytest.raises(NoUsableSample) as e:
        service.enroll(agency.officer, "watchlist", [ImageInput(blank_jpeg(), "blank.jpg")], INFO)
    assert e.value.details["rejected"][0]["code"] == "no_face"
    assert counts(service)["identities"] == 0 and index_size(service) == 0
    assert service.get_gallery(agency.officer, "watchlist").identity_count == 0


def test_duplicate_search_before_enrolment(service, agency, gallery):
    first = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    second = service.enroll(agency.officer, "watchlist", [img("person_a_2.jpg")], EnrollmentInfo(legal_basis="x"))
    assert [d.identity_id for d in second.possible_duplicates] == [first.identity.id]
    before = counts(service)
    with pytest.raises(PossibleDuplicate) as e:
        service.enroll(agency.officer, "watchlist", [img("person_a_2.jpg")], EnrollmentInfo(legal_basis="x"),
                       on_duplicate="reject")
    assert e.value.code == "possible_duplicate"
    assert counts(service) == before
    third = service.enroll(agency.officer, "watchlist", [img("person_c_1.jpg")], EnrollmentInfo(legal_basis="x"))
    assert third.possible_duplicates == ()


def test_enrolment_is_atomic_when_the_index_fails(service, agency, gallery, monkeypatch):
    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")], INFO)
    before, vectors = counts(service), index_size(service)

    def broken_add(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service.index, "add", broken_add)
    with pytest.raises(RuntimeError):
        service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    assert counts(service) == before and index_size(service) == vectors
    assert service.get_gallery(agency.officer, "watchlist").identity_count == 1


def test_enrolment_is_atomic_when_the_commit_fails_after_the_index_write(service, agency, gallery, monkeypatch):
    import fieldid.context as service_module

    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")], INFO)
    before, vectors = counts(service), index_size(service)
    original = service_module.append_event

    def failing_audit(session, event, now):
        if event.type.value == "identity.enroll":
            raise RuntimeError("audit store unavailable")
        return original(session, event, now)

    monkeypatch.setattr(service_module, "append_event", failing_audit)
    with pytest.raises(RuntimeError):
        service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg"), img("person_a_2.jpg")], INFO)
    assert counts(service) == before
    assert index_size(service) == vectors  # the vectors added before the failure were taken out again
    assert service.reconcile(repair=False).consistent


def test_delete_removes_rows_and_vectors(service, agency, gallery):
    a = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg"), img("person_a_2.jpg")], INFO)
    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")], EnrollmentInfo(legal_basis="x"))
    with pytest.raises(PermissionDenied):
        service.delete_identity(agency.officer, a.identity.id, reason="x")
    service.delete_identity(agency.supervisor, a.identity.id, reason="consent withdrawn")
    assert index_size(service) == 1
    with pytest.raises(IdentityNotFound):
        service.get_identity(agency.officer, a.identity.id)
    result = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert all(c.identity_id != a.identity.id for c in result.candidates)
    assert service.get_gallery(agency.officer, "watchlist").identity_count == 1
    assert service.reconcile(repair=False).consistent


def test_verify_one_to_one(service, agency, gallery):
    a = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    same = service.verify(agency.officer, a.identity.id, face("person_a_2.jpg"), CTX)
    other = service.verify(agency.officer, a.identity.id, face("person_b_1.jpg"), CTX)
    assert same.assessment == "supports_same_person" and other.assessment == "inconclusive"
    assert same.score > other.score and same.fmr < other.fmr


def test_other_agency_sees_nothing(service, agency, gallery):
    b = make_agency(service, "agency-b")
    a_id = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO).identity.id
    with pytest.raises(GalleryNotFound):
        service.identify(b.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    with pytest.raises(GalleryNotFound):
        service.identify(b.officer, [gallery.id], face("person_a_2.jpg"), CTX)
    with pytest.raises(IdentityNotFound):
        service.get_identity(b.officer, a_id)
    with pytest.raises(IdentityNotFound):
        service.verify(b.officer, a_id, face("person_a_2.jpg"), CTX)
    assert service.list_galleries(b.officer) == []


def test_index_is_rebuilt_from_the_database_after_a_lost_snapshot(service, agency, gallery, settings):
    import shutil

    from fieldid.storage.faiss_index import FaissIndex

    a = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    service.index.flush(force=True)
    shutil.rmtree(settings.index_dir)
    service.index = FaissIndex(settings.index_dir)
    report = service.reconcile()
    assert report.missing_vectors == 1 and report.repaired
    result = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert result.candidates[0].identity_id == a.identity.id


def test_orphan_vectors_are_found_and_removed(service, agency, gallery):
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    space = space_key(gallery.id, "dlib-resnet-v1-flip-lm5p25-lm5p35@1")
    service.index.add(space, np.array([999_999]), np.ones((1, 128), np.float32) / np.sqrt(128))
    check = service.reconcile(repair=False)
    assert check.orphan_vectors == 1 and not check.consistent
    assert service.reconcile().orphan_vectors == 1
    assert service.reconcile(repair=False).consistent


def test_people_enrolled_with_an_earlier_face_model_are_named_as_not_searched(service, agency, gallery):
    from fieldid.config import Settings
    from fieldid.models.registry import FaceModelLoader

    current = service.face_models
    service.face_models = FaceModelLoader(Settings(face_views="lm5"))  # the previous default model
    old = service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], INFO)
    service.face_models = current
    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")],
                   EnrollmentInfo(legal_basis="consent:x"))
    with service.store.read() as s:
        models = set(s.scalars(select(Template.model_id)))
    assert models == {"dlib-resnet-v1-flip@1", "dlib-resnet-v1-flip-lm5p25-lm5p35@1"}

    result = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert all(c.identity_id != old.identity.id for c in result.candidates)  # never compared across models
    note = [r for r in result.reasons if r.startswith("Not searched")]
    assert note and "1 enrolled person is" in note[0] and "dlib-resnet-v1-flip@1" in note[0]

    service.delete_identity(agency.admin, old.identity.id, reason="re-enrolment with the current model")
    again = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert not [r for r in again.reasons if r.startswith("Not searched")]  # the gallery version moved on


def test_identities_of_earlier_face_models_are_counted_on_both_databases(any_service):
    from fieldid.fingers import FINGER_MODEL_PREFIX, FingerInput
    from fieldid.storage import repo
    from tests.conftest import FIXTURES

    agency = make_agency(any_service, "agency-v")
    g = any_service.create_gallery(agency.admin, "mixed")
    current = any_service.face_models.embedder_model_id
    finger = FingerInput((FIXTURES / "fingers" / "fvc2000_db2_101_1.tif").read_bytes(), 2, filename="101_1")
    ids = []
    for p in "abc":
        images = [img(f"person_{p}_1.jpg"), img(f"person_{p}_2.jpg")]
        ids.append(any_service.enroll(agency.officer, g.id, images, EnrollmentInfo(legal_basis="test"),
                                      fingers=[finger] if p == "a" else ()).identity.id)
    with any_service.store.write() as s:
        faces = s.query(Template).filter(Template.gallery_id == g.id, Template.modality == "face")
        by_identity: dict[str, list[Template]] = {}
        for row in faces.order_by(Template.id):
            by_identity.setdefault(row.identity_id, []).append(row)
        for row in by_identity[ids[0]] + by_identity[ids[1]][:1]:  # a: only old; b: old and current
            row.model_id = "dlib-resnet-v1-flip@1"
    with any_service.store.read() as s:
        counted = repo.identities_of_other_models(s, [g.id], current, FINGER_MODEL_PREFIX)
        listed = repo.identity_ids_of_other_models(s, [g.id], current, FINGER_MODEL_PREFIX)
        elsewhere = repo.identities_of_other_models(s, ["no-such-gallery"], current, FINGER_MODEL_PREFIX)
    assert counted == {"dlib-resnet-v1-flip@1": 1}  # a's print is not a face model; b is still searchable
    assert listed == [ids[0]] and elsewhere == {}


def test_an_empty_face_model_note_is_reused_for_a_while_then_counted_again(
    service, agency, gallery, monkeypatch
):
    import fieldid.search.parts as service_module
    from fieldid.config import Settings
    from fieldid.models.registry import FaceModelLoader

    service.enroll(agency.officer, "watchlist", [img("person_b_1.jpg")], INFO)
    first = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert not [r for r in first.reasons if r.startswith("Not searched")]
    current = service.face_models
    service.face_models = FaceModelLoader(Settings(face_views="lm5"))  # another server's model
    service.enroll(agency.officer, "watchlist", [img("person_a_1.jpg")], EnrollmentInfo(legal_basis="x"))
    service.face_models = current
    # within the refresh time an empty answer stands although the gallery's version moved on …
    cached = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert not [r for r in cached.reasons if r.startswith("Not searched")]
    # … and once it has passed, the people of the other model are counted
    monkeypatch.setattr(service_module, "MODEL_NOTE_REFRESH_S", 0.0)
    counted = service.identify(agency.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert [r for r in counted.reasons if r.startswith("Not searched: 1 enrolled person is")]
