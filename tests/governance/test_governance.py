"""Accountability enforced in the service: sharing, purpose binding, rate limits, training mode,
federated query, two-person confirmation, redress, retention, audit access, JWT."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fieldid.errors import (
    AuthorizationRequired,
    ChallengeNotFound,
    Conflict,
    GalleryNotFound,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    SearchNotFound,
    TrainingModeViolation,
    Unauthenticated,
)
from fieldid.governance.admin import SYSTEM
from fieldid.governance.audit import verify_chain
from fieldid.service import EnrollmentInfo, ImageInput, SearchContext
from fieldid.storage.tables import Agency, AuditEvent, Misidentification, ProbeImage
from tests.conftest import CTX, face, make_agency

INFO = EnrollmentInfo(legal_basis="consent:test")


def enrol(svc, actor, gallery, name):
    return svc.enroll(actor, gallery, [ImageInput(face(name))], INFO).identity


@pytest.fixture
def world(service):
    a = make_agency(service, "agency-a")
    b = make_agency(service, "agency-b")
    service.create_gallery(a.admin, "watchlist")
    service.create_gallery(a.admin, "sandbox", kind="training")
    service.create_gallery(b.admin, "b-gallery")
    ida = enrol(service, a.officer, "watchlist", "person_a_1.jpg")
    enrol(service, a.officer, "sandbox", "person_c_1.jpg")
    idb = enrol(service, b.officer, "b-gallery", "person_b_1.jpg")
    return a, b, ida, idb


def events(service, event_type):
    with service.store.read() as s:
        return [json.loads(e.payload) | {"_row": e} for e in
                s.execute(select(AuditEvent).where(AuditEvent.event_type == event_type)).scalars()]


# -- sharing ---------------------------------------------------------------------------------------
def test_sharing_agreement_scopes_gallery_purpose_and_time(service, world, clock):
    a, b, ida, _ = world
    with pytest.raises(GalleryNotFound):
        service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), CTX)
    agreement = service.share_gallery(a.admin, "watchlist", "agency-b", purposes=["missing_person"],
                                      expires_at=clock.now() + timedelta(days=30), reference="MoU-2026-7")
    with pytest.raises(GalleryNotFound):  # wrong purpose
        service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), CTX)
    ok = SearchContext("missing_person", "MP-1")
    result = service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), ok)
    assert result.candidates[0].identity_id == ida.id
    shared = [g for g in service.list_galleries(b.officer) if g.shared]
    assert [g.name for g in shared] == ["watchlist"]
    clock.advance(timedelta(days=31))
    with pytest.raises(GalleryNotFound):
        service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), ok)
    assert not [g for g in service.list_galleries(b.officer) if g.shared]
    with pytest.raises(PermissionDenied):
        service.share_gallery(a.officer, "watchlist", "agency-b", purposes=["missing_person"],
                              expires_at=clock.now() + timedelta(days=1), reference="x")
    service.revoke_sharing(a.admin, agreement["id"])


def test_revoked_agreement_stops_access(service, world, clock):
    a, b, _, _ = world
    agreement = service.share_gallery(a.admin, "watchlist", "agency-b", purposes=["criminal_investigation"],
                                      expires_at=clock.now() + timedelta(days=30), reference="MoU")
    service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), CTX)
    service.revoke_sharing(a.admin, agreement["id"])
    with pytest.raises(GalleryNotFound):
        service.identify(b.officer, ["agency-a/watchlist"], face("person_a_2.jpg"), CTX)


# -- purpose binding, authorisation, rate limits ---------------------------------------------------
def test_agency_requiring_authorisation(service, world, clock):
    a, _, _, _ = world
    with service.store.write() as s:
        s.get(Agency, "agency-a").requires_authorization = True
    for ctx, problem in ((CTX, "requires"), (SearchContext(CTX.purpose, CTX.case_number, "", "W-404"), "not on record")):
        with pytest.raises(AuthorizationRequired, match=problem):
            service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), ctx)
    service.record_authorization(a.supervisor, "W-1", expires_at=clock.now() + timedelta(days=2),
                                 case_number="CASE-2026-001")
    with pytest.raises(PermissionDenied):
        service.record_authorization(a.officer, "W-2", expires_at=clock.now() + timedelta(days=2))
    good = SearchContext(CTX.purpose, CTX.case_number, "", "W-1")
    assert service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), good).candidates
    with pytest.raises(AuthorizationRequired, match="covers case"):
        service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), SearchContext(CTX.purpose, "OTHER", "", "W-1"))
    clock.advance(timedelta(days=3))
    with pytest.raises(AuthorizationRequired, match="expired"):
        service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), good)


def test_rate_limit_and_unusual_volume_alert(service, world):
    from fieldid.governance.rate_limit import RateLimiter

    a, _, _, _ = world
    service.rate_limiter = RateLimiter(per_minute=3, alert_per_hour=2)
    for _ in range(3):
        service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    with pytest.raises(RateLimited) as e:
        service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    assert e.value.code == "rate_limited" and e.value.http_status == 429
    alerts = events(service, "alert.query_volume")
    assert len(alerts) == 1 and alerts[0]["_row"].actor_id == a.officer.user_id


# -- training mode ---------------------------------------------------------------------------------
def test_training_user_cannot_reach_operational_data(service, world):
    a, _, ida, _ = world
    with pytest.raises(TrainingModeViolation):
        service.identify(a.trainee, ["watchlist"], face("person_a_2.jpg"), SearchContext("training", "T-1"))
    with pytest.raises(TrainingModeViolation):
        service.get_identity(a.trainee, ida.id)
    with pytest.raises(PermissionDenied):
        service.identify_federated(a.trainee, face("person_a_2.jpg"), SearchContext("training", "T-1", justification="x" * 40))
    assert [g.name for g in service.list_galleries(a.trainee)] == ["sandbox"]
    result = service.identify(a.trainee, ["sandbox"], face("person_c_2.jpg"), SearchContext("training", "T-1"))
    assert result.training and any(r.startswith("Training:") for r in result.reasons)
    assert events(service, "search.identify")[-1]["training"] is True
    # an officer who switches into training mode loses operational reach too
    trainee_officer = service.actor_for("agency-a-officer")
    service.set_my_training_mode(trainee_officer, True)
    switched = service.actor_for("agency-a-officer")
    with pytest.raises(TrainingModeViolation):
        service.identify(switched, ["watchlist"], face("person_a_2.jpg"), SearchContext("training", "T-2"))
    with pytest.raises(InvalidRequest):
        service.set_my_training_mode(a.trainee, False)
    with pytest.raises(TrainingModeViolation):  # and operational users do not search the sandbox
        service.identify(a.supervisor, ["sandbox"], face("person_c_2.jpg"), CTX)


# -- federated query -------------------------------------------------------------------------------
def test_federated_query_is_elevated_justified_and_flagged(service, world, clock):
    a, b, _, idb = world
    service.share_gallery(b.admin, "b-gallery", "agency-a", purposes=["criminal_investigation"],
                          expires_at=clock.now() + timedelta(days=5), reference="MoU-B")
    with pytest.raises(PermissionDenied):
        service.identify_federated(a.officer, face("person_b_2.jpg"), CTX)
    with pytest.raises(InvalidRequest):
        service.identify_federated(a.supervisor, face("person_b_2.jpg"), CTX)
    ctx = SearchContext(CTX.purpose, CTX.case_number, justification="Armed robbery suspect, all systems needed now.")
    result = service.identify_federated(a.supervisor, face("person_b_2.jpg"), ctx)
    assert result.federated and result.candidates[0].identity_id == idb.id
    ids = set(result.galleries)
    assert len(ids) == 2  # own operational + shared, never the training sandbox
    logged = events(service, "search.identify")[-1]
    assert logged["federated"] is True and logged["justification"].startswith("Armed robbery")


# -- two-person confirmation -----------------------------------------------------------------------
def test_two_person_confirmation(service, world, clock):
    a, b, ida, _ = world
    result = service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    sid = result.search_id
    first = service.review_candidate(a.officer, sid, ida.id, "confirm")
    assert first["state"] == "pending" and first["my_decision"] == "confirm"
    with pytest.raises(Conflict):
        service.review_candidate(a.officer, sid, ida.id, "confirm")
    blind = service.review_status(a.officer2, sid, ida.id)
    assert blind["decisions"] == [] and blind["decisions_recorded"] == 1 and blind["state"] == "pending"
    with pytest.raises(PermissionDenied):
        service.review_candidate(a.auditor, sid, ida.id, "confirm")
    with pytest.raises(SearchNotFound):
        service.review_candidate(b.officer, sid, ida.id, "confirm")
    done = service.review_candidate(a.officer2, sid, ida.id, "confirm")
    assert done["state"] == "confirmed" and len(done["decisions"]) == 2
    with service.store.read() as s:
        probe = s.get(ProbeImage, sid)
    assert probe.retention_class == "probe_confirmed"
    assert probe.expires_at > clock.now() + timedelta(days=365)


def test_blocking_evidence_and_rejection(service, world):
    a, _, ida, _ = world
    sid = service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX).search_id
    service.record_evidence(a.officer, sid, ida.id, kind="citizenship_claim",
                            description="Shows a national passport in another name", blocks_confirmation=True)
    service.review_candidate(a.officer, sid, ida.id, "confirm")
    state = service.review_candidate(a.supervisor, sid, ida.id, "confirm")
    assert state["state"] == "blocked"
    sid2 = service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX).search_id
    service.review_candidate(a.officer, sid2, ida.id, "confirm")
    assert service.review_candidate(a.officer2, sid2, ida.id, "reject")["state"] == "disputed"
    with pytest.raises(InvalidRequest):
        service.review_candidate(a.officer, sid2, "not-a-candidate", "confirm")


# -- redress ---------------------------------------------------------------------------------------
def test_challenge_freezes_retention_and_upheld_result_is_registered(service, world, clock):
    a, b, ida, _ = world
    sid = service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX).search_id
    challenge = service.file_challenge(a.officer, sid, on_behalf_of="advocate", contact="advocate@example.org",
                                       grounds="My client was abroad on that date.")
    with pytest.raises(SearchNotFound):
        service.file_challenge(b.officer, sid, on_behalf_of="subject", contact="x", grounds="y")
    assert [c["id"] for c in service.list_challenges(a.auditor)] == [challenge["id"]]
    with pytest.raises(PermissionDenied):
        service.list_challenges(a.officer)
    with pytest.raises(ChallengeNotFound):
        service.get_challenge(b.auditor, challenge["id"])
    clock.advance(timedelta(days=60))
    report = service.run_retention(SYSTEM)
    assert report.probe_images_held == 1
    with service.store.read() as s:
        assert s.get(ProbeImage, sid) is not None
    with pytest.raises(InvalidRequest):
        service.resolve_challenge(a.auditor, challenge["id"], outcome="upheld", reasons="")
    resolved = service.resolve_challenge(a.auditor, challenge["id"], outcome="upheld", identity_id=ida.id,
                                         reasons="Travel records confirm the person was abroad.")
    assert resolved["status"] == "upheld"
    with pytest.raises(Conflict):
        service.resolve_challenge(a.auditor, challenge["id"], outcome="dismissed", reasons="again")
    with service.store.read() as s:
        register = s.execute(select(Misidentification)).scalars().all()
    assert [(m.search_id, m.identity_id) for m in register] == [(sid, ida.id)]
    service.run_retention(SYSTEM)  # hold released: the expired probe goes now
    with service.store.read() as s:
        assert s.get(ProbeImage, sid) is None
    rows = service.transparency_report(a.auditor, since=clock.now() - timedelta(days=90), until=clock.now() + timedelta(days=1))
    row = next(r for r in rows if r["agency_id"] == "agency-a")
    assert row["challenges_filed"] == 1 and row["challenges_upheld"] == 1 and row["overturned_results"] == 1
    assert row["searches"] >= 1 and all(r["agency_id"] == "agency-a" for r in rows)


# -- retention -------------------------------------------------------------------------------------
def test_retention_purges_exactly_what_expired(service, world, clock):
    a, _, _, _ = world
    with_candidates = service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX).search_id
    without = service.identify(a.officer, ["watchlist"], face("person_c_2.jpg"), CTX).search_id

    def probes():
        with service.store.read() as s:
            return {p.search_id for p in s.execute(select(ProbeImage)).scalars()}

    assert probes() == {with_candidates, without}
    clock.advance(timedelta(hours=23))
    service.run_retention(SYSTEM)
    assert probes() == {with_candidates, without}
    clock.advance(timedelta(hours=2))
    report = service.run_retention(SYSTEM)
    assert report.probe_images_purged == 1 and probes() == {with_candidates}
    clock.advance(timedelta(days=30))
    assert service.run_retention(SYSTEM).probe_images_purged == 1 and probes() == set()
    with pytest.raises(PermissionDenied):
        service.run_retention(a.supervisor)
    purges = events(service, "retention.purge")
    assert [p["probe_images_purged"] for p in purges] == [0, 1, 1]


def test_audit_retention_keeps_the_chain_verifiable(service, world, clock):
    a, _, _, _ = world
    service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    clock.advance(timedelta(days=service.settings.retention_audit_days + 1))
    service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    report = service.run_retention(SYSTEM)
    assert report.audit_events_purged > 0 and report.searches_purged == 1
    with service.store.read() as s:
        chain = verify_chain(s)
    assert chain.intact and chain.events >= 2


# -- audit access ----------------------------------------------------------------------------------
def test_auditors_search_and_export_their_agency_only(service, world):
    a, b, _, _ = world
    service.identify(a.officer, ["watchlist"], face("person_a_2.jpg"), CTX)
    page = service.search_audit(a.auditor, case_number="CASE-2026-001")
    assert page["total"] == 1 and page["events"][0]["agency_id"] == "agency-a"
    assert {e["agency_id"] for e in service.search_audit(a.auditor, limit=1000)["events"]} == {"agency-a"}
    assert service.search_audit(b.auditor, case_number="CASE-2026-001")["total"] == 0
    assert service.search_audit(a.auditor, user="agency-a-officer", event_type="search.identify")["total"] == 1
    with pytest.raises(PermissionDenied):
        service.search_audit(a.officer)
    exported = service.export_audit(a.auditor)
    assert [e["seq"] for e in exported] == sorted(e["seq"] for e in exported)
    assert events(service, "audit.export") and events(service, "audit.search")
    assert service.chain_status(a.auditor)["intact"]


# -- JWT -------------------------------------------------------------------------------------------
def test_jwt_bearer_tokens(service, world, tmp_path, clock):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "idp.pem").write_bytes(pem)
    service.settings = service.settings.model_copy(update={
        "jwt_issuer": "https://idp.agency-a.example", "jwt_audience": "fieldid", "jwt_keys_file": tmp_path / "idp.pem"})
    now = datetime.now(UTC)

    def token(**over):
        claims = {"iss": "https://idp.agency-a.example", "aud": "fieldid", "sub": "jdoe", "iat": now,
                  "exp": now + timedelta(minutes=5), "fieldid_agency": "agency-a", "fieldid_role": "officer"}
        claims.update(over)
        return jwt.encode(claims, key, algorithm="RS256")

    actor = service.authenticate(token())
    assert (actor.username, actor.agency_id, actor.role.value, actor.via) == ("jdoe", "agency-a", "officer", "jwt")
    assert service.authenticate(token(fieldid_role="supervisor")).role.value == "supervisor"
    for bad in (token(aud="other"), token(iss="https://evil"), token(exp=now - timedelta(minutes=5)),
                token(fieldid_role="emperor"), token(fieldid_agency="agency-b"), token()[:-5] + "AAAAA"):
        with pytest.raises(Unauthenticated):
            service.authenticate(bad)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"iss": "https://idp.agency-a.example", "aud": "fieldid", "sub": "x", "iat": now,
                         "exp": now + timedelta(minutes=5), "fieldid_agency": "agency-a",
                         "fieldid_role": "supervisor"}, other_key, algorithm="RS256")
    with pytest.raises(Unauthenticated):
        service.authenticate(forged)
    actions = [e["action"] for e in events(service, "admin")]
    assert "user.provision" in actions and "user.role_change" in actions
