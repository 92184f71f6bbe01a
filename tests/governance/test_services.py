"""The governance services on their own: each is built from a Context over an in-memory store and
a hand-moved clock, with no face model and no vector index of faces. Searches are put on the
record as rows (what a search leaves behind), so review, redress and retention are exercised
exactly as they read them."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fieldid.clock import ManualClock
from fieldid.config import Settings
from fieldid.context import Context
from fieldid.errors import (
    AgencyNotFound,
    ChallengeNotFound,
    Conflict,
    GalleryNotFound,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SearchNotFound,
    TrainingModeViolation,
    Unauthenticated,
    UserNotFound,
)
from fieldid.galleries import GalleryService
from fieldid.governance import reach
from fieldid.governance.actor import SYSTEM, Actor
from fieldid.governance.admin import AdminService
from fieldid.governance.audit import verify_chain
from fieldid.governance.authenticator import Authenticator
from fieldid.governance.redress import RedressService
from fieldid.governance.retention import RetentionService
from fieldid.governance.review import ReviewService
from fieldid.governance.roles import Role
from fieldid.governance.sharing import SharingService
from fieldid.storage.memory_index import MemoryIndex
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import AuditEvent, Misidentification, ProbeImage, Search
from fieldid.template_index import TemplateIndex

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path):
    store = SqlStore("sqlite://")
    yield Context(Settings(data_dir=tmp_path / "data", environment="test"), store, ManualClock(START))
    store.dispose()


@pytest.fixture
def auth(ctx):
    return Authenticator(ctx)


@pytest.fixture
def admin(ctx, auth):
    return AdminService(ctx, auth.api_keys)


@pytest.fixture
def people(admin):
    """Two agencies, each with an admin, two officers, a supervisor, an auditor and a trainee."""
    out = {}
    for agency in ("agency-a", "agency-b"):
        admin.create_agency(SYSTEM, agency, agency.upper())
        for role, short in ((Role.AGENCY_ADMIN, "admin"), (Role.OFFICER, "officer"), (Role.OFFICER,
                                                                                      "officer2"),
                            (Role.SUPERVISOR, "supervisor"), (Role.AUDITOR, "auditor"), (Role.TRAINEE,
                                                                                         "trainee")):
            admin.create_user(SYSTEM, f"{agency}-{short}", role, agency_id=agency)
            out[f"{agency[-1]}.{short}"] = admin.actor_for(f"{agency}-{short}", via="test")
    return out


def events(ctx, event_type):
    with ctx.store.read() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.event_type == event_type)).scalars().all()
        return [json.loads(r.payload) for r in rows]


def record_search(ctx, actor: Actor, candidates=("i-1", "i-2"), *, outcome="candidates",
                  expires_in=timedelta(days=30)):
    """A search as it is left on the record: its receipt row and its probe image."""
    search_id = str(uuid.uuid4())
    with ctx.store.write() as s:
        s.add(Search(id=search_id, agency_id=actor.agency_id, user_id=actor.user_id, kind="identify",
                     gallery_ids=["g"], purpose="criminal_investigation", case_number="C-1",
                     legal_basis="test",
                     modality="face", probe_sha256="0" * 64, gallery_size=10, outcome=outcome,
                     result={"candidates": [{"identity_id": c, "rank": i + 1} for i,
                                            c in enumerate(candidates)],
                             "threshold": 0.6, "fpir_target": 0.01},
                     training=actor.training_mode, created_at=ctx.now()))
        s.flush()
        s.add(ProbeImage(search_id=search_id, agency_id=actor.agency_id, image=b"jpeg",
                         retention_class="probe_candidates",
                         expires_at=ctx.now() + expires_in, created_at=ctx.now()))
    return search_id


def test_governance_services_load_no_model_and_no_service_front():
    code = ("import sys; import fieldid.governance.admin, fieldid.governance.sharing, "
            "fieldid.governance.review, fieldid.governance.redress, fieldid.governance.retention, "
            "fieldid.governance.oversight, fieldid.context; "
            "print([m for m in ('dlib', 'cv2', 'faiss', 'onnxruntime', 'fieldid.service', 'fieldid.search') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


# -- admin ---------------------------------------------------------------------------------------------
def test_agency_admins_manage_their_own_agency_only(admin, people):
    a_admin = people["a.admin"]
    with pytest.raises(PermissionDenied, match="own agency"):
        admin.create_user(a_admin, "intruder", Role.OFFICER, agency_id="agency-b")
    with pytest.raises(PermissionDenied, match="system admin"):
        admin.create_user(a_admin, "root2", Role.SYSTEM_ADMIN)
    with pytest.raises(UserNotFound):
        admin.issue_api_key(a_admin, "agency-b-officer")  # another agency's user is not found
    assert {u["agency_id"] for u in admin.list_users(a_admin)} == {"agency-a"}
    assert {u["agency_id"] for u in admin.list_users(SYSTEM)} == {"agency-a", "agency-b"}
    with pytest.raises(AgencyNotFound):
        admin.create_user(SYSTEM, "lost", Role.OFFICER, agency_id="agency-z")
    with pytest.raises(Conflict):
        admin.create_user(SYSTEM, "agency-a-officer", Role.OFFICER, agency_id="agency-a")


def test_a_revoked_key_stops_authenticating_at_once(ctx, admin, auth, people):
    issued = admin.issue_api_key(people["a.admin"], "agency-a-officer")
    assert auth.authenticate(issued.api_key).username == "agency-a-officer"  # verified, then remembered
    admin.revoke_api_key(people["a.admin"], issued.key_id)
    with pytest.raises(Unauthenticated):
        auth.authenticate(issued.api_key)
    actions = [e["action"] for e in events(ctx, "admin")]
    assert actions.count("api_key.issue") == 1 and actions.count("api_key.revoke") == 1


def test_trainees_always_stay_in_training_mode(ctx, admin, people):
    with pytest.raises(InvalidRequest):
        admin.set_my_training_mode(people["a.trainee"], False)
    with pytest.raises(InvalidRequest):
        admin.set_training_mode(people["a.admin"], "agency-a-trainee", False)
    assert admin.set_my_training_mode(people["a.officer"], True)["training_mode"] is True
    assert admin.actor_for("agency-a-officer").training_mode
    assert [e["on"] for e in events(ctx, "admin") if e["action"] == "user.training_mode.self"] == [True]


# -- sharing ---------------------------------------------------------------------------------------------
@pytest.fixture
def galleries(ctx, people):
    svc = GalleryService(ctx, TemplateIndex(ctx, MemoryIndex()))
    svc.create_gallery(people["a.admin"], "watchlist")
    svc.create_gallery(people["a.admin"], "sandbox", kind="training")
    return svc


def test_a_shared_gallery_is_in_reach_for_its_purposes_until_revoked_or_expired(ctx, people, galleries):
    sharing = SharingService(ctx)
    b = people["b.officer"]
    with ctx.store.read() as s, pytest.raises(GalleryNotFound):
        reach.searchable_gallery(s, b, "agency-a/watchlist", "criminal_investigation", ctx.now())
    agreement = sharing.share_gallery(people["a.admin"], "watchlist", "agency-b",
                                      purposes=["criminal_investigation"],
                                      expires_at=ctx.now() + timedelta(days=2), reference="MoU-1")
    with ctx.store.read() as s:
        gallery, shared = reach.searchable_gallery(s, b, "agency-a/watchlist", "criminal_investigation",
                                                   ctx.now())
        assert gallery.name == "watchlist" and shared
        with pytest.raises(GalleryNotFound):  # not for a purpose the agreement does not name
            reach.searchable_gallery(s, b, "agency-a/watchlist", "missing_person", ctx.now())
        with pytest.raises(GalleryNotFound):  # never in training mode
            reach.searchable_gallery(s, people["b.trainee"], gallery.id, "criminal_investigation", ctx.now())
    assert [g.shared for g in galleries.list_galleries(b)] == [True]
    assert [a["id"] for a in sharing.list_sharing(b)] == [agreement["id"]]
    with pytest.raises(NotFound):
        sharing.revoke_sharing(people["b.admin"], agreement["id"])  # only the owner revokes
    ctx.clock.advance(timedelta(days=3))
    assert galleries.list_galleries(b) == []  # expired
    sharing.revoke_sharing(people["a.admin"], agreement["id"])
    assert [e["action"] for e in events(ctx, "admin") if e["action"].startswith("sharing.")] == [
        "sharing.create", "sharing.revoke"]


def test_what_cannot_be_shared(ctx, people, galleries):
    sharing = SharingService(ctx)
    a, later = people["a.admin"], ctx.now() + timedelta(days=1)
    with pytest.raises(InvalidRequest, match="Training galleries"):
        sharing.share_gallery(a, "sandbox", "agency-b", purposes=["criminal_investigation"], expires_at=later,
                              reference="x")
    with pytest.raises(AgencyNotFound):
        sharing.share_gallery(a, "watchlist", "agency-a", purposes=["criminal_investigation"],
                              expires_at=later,
                              reference="x")
    with pytest.raises(InvalidRequest, match="purpose"):
        sharing.share_gallery(a, "watchlist", "agency-b", purposes=["curiosity"], expires_at=later,
                              reference="x")
    with pytest.raises(InvalidRequest, match="future"):
        sharing.share_gallery(a, "watchlist", "agency-b", purposes=["criminal_investigation"],
                              expires_at=ctx.now(), reference="x")
    with pytest.raises(GalleryNotFound):
        sharing.share_gallery(people["b.admin"], "watchlist", "agency-a", purposes=["criminal_investigation"],
                              expires_at=later, reference="x")


def test_training_mode_reaches_only_the_sandbox(ctx, people, galleries):
    with ctx.store.read() as s:
        with pytest.raises(TrainingModeViolation):
            reach.own_gallery(s, people["a.trainee"], "watchlist")
        assert reach.own_gallery(s, people["a.trainee"], "sandbox").kind == "training"
        with pytest.raises(TrainingModeViolation, match="Switch to training mode"):
            reach.searchable_gallery(s, people["a.officer"], "sandbox", "criminal_investigation", ctx.now())
    assert [g.name for g in galleries.list_galleries(people["a.trainee"])] == ["sandbox"]
    with pytest.raises(TrainingModeViolation):
        reach.check_federated(people["a.trainee"])


# -- review ------------------------------------------------------------------------------------------
def test_two_independent_confirmations_confirm_and_keep_the_probe(ctx, people):
    review = ReviewService(ctx)
    search = record_search(ctx, people["a.officer"])
    first = review.review_candidate(people["a.officer"], search, "i-1", "confirm")
    assert first["state"] == "pending" and first["decisions_recorded"] == 1
    blind = review.review_status(people["a.officer2"], search, "i-1")
    assert blind["decisions"] == [] and blind["decisions_recorded"] == 1  # counted, not shown
    assert [q["candidate"]["identity_id"] for q in review.review_queue(people["a.officer2"])] == ["i-1"]
    assert review.review_queue(people["a.officer"]) == []  # not twice by the same reviewer
    with pytest.raises(Conflict):
        review.review_candidate(people["a.officer"], search, "i-1", "confirm")
    second = review.review_candidate(people["a.officer2"], search, "i-1", "confirm")
    assert second["state"] == "confirmed" and len(second["decisions"]) == 2
    with ctx.store.read() as s:
        probe = s.get(ProbeImage, search)
        assert probe.retention_class == "probe_confirmed"
        assert probe.expires_at == START + timedelta(days=ctx.settings.retention_probe_confirmed_days)
    assert [e["state"] for e in events(ctx, "review.decision")] == ["pending", "confirmed"]


def test_review_stays_within_agency_candidates_and_mode(ctx, admin, people):
    review = ReviewService(ctx)
    search = record_search(ctx, people["a.officer"])
    with pytest.raises(SearchNotFound):
        review.review_candidate(people["b.officer"], search, "i-1", "confirm")
    with pytest.raises(InvalidRequest, match="shown by this search"):
        review.review_candidate(people["a.officer"], search, "i-9", "confirm")
    admin.set_my_training_mode(people["a.supervisor"], True)
    practising = admin.actor_for("agency-a-supervisor")
    with pytest.raises(SearchNotFound):  # in training mode, only training searches are reviewed
        review.review_candidate(practising, search, "i-1", "confirm")
    assert review.review_queue(practising) == []
    state = review.record_evidence(people["a.officer2"], search, "i-2", kind="identity_document",
                                   description="passport of someone else", blocks_confirmation=True)
    assert state["state"] == "blocked"
    review.review_candidate(people["a.officer"], search, "i-2", "confirm")
    assert review.review_candidate(people["a.supervisor"], search, "i-2", "confirm")["state"] == "blocked"


# -- redress -----------------------------------------------------------------------------------------
def test_a_challenge_freezes_the_probe_until_resolved_and_upheld_ones_are_registered(ctx, people):
    redress, retention = RedressService(ctx), RetentionService(ctx)
    search = record_search(ctx, people["a.officer"], expires_in=timedelta(hours=1))
    challenge = redress.file_challenge(people["a.officer"], search, on_behalf_of="subject",
                                       contact="x@example.org",
                                       grounds="not me")
    assert events(ctx, "challenge.file")[0]["retention_frozen"] is True
    ctx.clock.advance(timedelta(days=1))
    report = retention.run_retention(SYSTEM)
    assert report.probe_images_purged == 0 and report.probe_images_held == 1

    with pytest.raises(ChallengeNotFound):
        redress.get_challenge(people["b.auditor"], challenge["id"])  # another agency
    with pytest.raises(ChallengeNotFound):
        redress.get_challenge(people["a.officer2"], challenge["id"])  # neither the filer nor a resolver
    assert redress.get_challenge(people["a.officer"], challenge["id"])["status"] == "open"  # the filer
    assert [c["id"] for c in redress.list_challenges(people["a.auditor"])] == [challenge["id"]]
    assert redress.list_challenges(people["b.auditor"]) == []
    with pytest.raises(InvalidRequest, match="showed"):
        redress.resolve_challenge(people["a.auditor"], challenge["id"], outcome="upheld", reasons="r",
                                  identity_id="i-9")
    done = redress.resolve_challenge(people["a.auditor"], challenge["id"], outcome="upheld",
                                     reasons="wrong person",
                                     identity_id="i-1")
    assert done["status"] == "upheld"
    with pytest.raises(Conflict):
        redress.resolve_challenge(people["a.auditor"], challenge["id"], outcome="dismissed", reasons="again")
    register = redress.misidentifications(people["a.supervisor"])
    assert [(m["identity_id"], m["case_number"]) for m in register] == [("i-1", "C-1")]
    assert redress.misidentifications(people["b.supervisor"]) == []
    assert retention.run_retention(SYSTEM).probe_images_purged == 1  # no longer held
    with ctx.store.read() as s:
        assert s.execute(select(Misidentification)).scalar_one().challenge_id == challenge["id"]


def test_a_challenge_needs_a_search_of_the_own_agency(ctx, people):
    redress = RedressService(ctx)
    search = record_search(ctx, people["a.officer"])
    with pytest.raises(SearchNotFound):
        redress.file_challenge(people["b.officer"], search, on_behalf_of="advocate", contact="c", grounds="g")
    with pytest.raises(InvalidRequest):
        redress.file_challenge(people["a.officer"], search, on_behalf_of="neighbour", contact="c",
                               grounds="g")


# -- retention ---------------------------------------------------------------------------------------
def test_retention_purges_old_searches_and_a_chain_prefix_that_stays_verifiable(ctx, people):
    retention = RetentionService(ctx)
    old = record_search(ctx, people["a.officer"], expires_in=timedelta(hours=2))
    kept = record_search(ctx, people["a.officer"])
    RedressService(ctx).file_challenge(people["a.officer"], kept, on_behalf_of="subject", contact="c",
                                       grounds="g")
    with pytest.raises(PermissionDenied):
        retention.run_retention(people["a.admin"])
    ctx.clock.advance(timedelta(days=max(183.0, ctx.settings.retention_audit_days) + 1))
    report = retention.run_retention(SYSTEM)
    assert report.probe_images_purged == 1 and report.probe_images_held == 1
    assert report.searches_purged == 1 and report.audit_events_purged > 0
    with ctx.store.read() as s:
        assert s.get(Search, old) is None and s.get(Search, kept) is not None  # kept with its challenge
        chain = verify_chain(s)
    assert chain.intact and chain.events >= 1
    assert events(ctx, "retention.purge")[-1]["searches_purged"] == 1
