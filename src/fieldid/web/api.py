"""JSON routes the web app needs beyond the public API (prefix ``/v1/web``).

Thin like every route: each checks the same permission table and the caller's agency, reads
through the service, and never weakens tenancy. Nothing here searches a gallery or stores an
image: the capture-quality check only measures a frame and forgets it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from fieldid.api.deps import current_actor, get_service, read_upload, require
from fieldid.core.policy import operating_point
from fieldid.errors import FieldIDError, InvalidRequest
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission, Role
from fieldid.service import FieldID

router = APIRouter(prefix="/v1/web", tags=["web app"])

#: Largest frame the live quality check accepts (a downscaled camera frame is ~30–80 kB).
MAX_FRAME_BYTES = 2 * 1024 * 1024
TRAINING_PURPOSE = "training"


# -- schemas ---------------------------------------------------------------------------------------
class WebConfig(BaseModel):
    purpose_codes: list[str]
    training_purpose: str
    demo: bool
    training_mode: bool
    max_image_bytes: int
    federated_justification_min_chars: int


class FrameIssue(BaseModel):
    code: str
    message: str
    blocking: bool


class FrameQuality(BaseModel):
    face_found: bool
    acceptable_for_search: bool
    score: float
    issues: list[FrameIssue]
    face_box: tuple[int, int, int, int] | None = None
    other_faces: int = 0
    width: int
    height: int
    advice: str


class CurvePoint(BaseModel):
    score: float
    fmr: float
    fnmr: float


class GalleryOperatingPoint(BaseModel):
    gallery_id: str
    name: str
    kind: str
    shared: bool
    gallery_size: int
    target_fpir: float
    threshold: float
    threshold_fmr: float
    fnmr_at_threshold: float


class Evaluation(BaseModel):
    source: str = Field(description="The results.json read, relative to the data directory.")
    modified: datetime
    summary: dict[str, Any] = Field(
        description="The evaluation's single-valued results (rates, sizes, versions)."
    )
    groups: list[dict[str, Any]] = Field([], description="FMR and FNMR per group at the evaluated threshold.")
    gallery_size_curve: list[dict[str, Any]] = []


class Accuracy(BaseModel):
    model_id: str
    calibration_version: str
    dataset: str
    created: str
    impostor_pairs: int
    genuine_pairs: int
    min_measurable_fmr: float
    notes: dict[str, Any]
    curve: list[CurvePoint]
    galleries: list[GalleryOperatingPoint]
    evaluation: Evaluation | None = Field(
        None,
        description="The latest `fieldid eval faces` results under <data_dir>/eval/ (None: none yet).",
    )


class MisidentificationOut(BaseModel):
    id: str
    challenge_id: str
    search_id: str
    identity_id: str | None
    agency_id: str
    details: str
    recorded_at: datetime
    case_number: str | None
    purpose: str | None


class OfficerActivity(BaseModel):
    user_id: str
    username: str
    role: str
    searches: int
    outcome_candidates: int
    outcome_no_candidate: int
    outcome_under_quality: int
    outcome_investigative_list: int
    reviews: int
    confirms: int
    rejects: int


class Activity(BaseModel):
    since: datetime
    until: datetime
    agencies: dict[str, dict[str, int]]
    officers: list[OfficerActivity]


class Person(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    agency_id: str
    active: bool


class ReviewQueueItem(BaseModel):
    search_id: str
    created_at: datetime
    purpose: str
    case_number: str
    gallery_size: int
    decisions_recorded: int
    candidate: dict[str, Any]
    operating_point: dict[str, Any]


# -- routes ----------------------------------------------------------------------------------------
@router.get("/config", response_model=WebConfig)
def config(actor: Actor = Depends(current_actor), service: FieldID = Depends(get_service)) -> dict[str, Any]:
    """What the field app's forms offer: purpose codes, demo and training flags."""
    return {
        "purpose_codes": list(service.settings.purpose_codes),
        "training_purpose": TRAINING_PURPOSE,
        "demo": bool(service.settings.demo),
        "training_mode": actor.training_mode,
        "max_image_bytes": service.settings.max_image_bytes,
        "federated_justification_min_chars": service.settings.federated_justification_min_chars,
    }


@router.post("/quality", response_model=FrameQuality)
def frame_quality(
    image: UploadFile = File(..., description="A camera frame or the captured still."),
    actor: Actor = Depends(require(Permission.SEARCH)),
    service: FieldID = Depends(get_service),
) -> dict[str, Any]:
    """Capture guidance: face found, size, blur, pose and exposure of one frame. The frame is
    measured and discarded: nothing is searched, stored or audited."""
    from fieldid.imaging import decode_image

    probe = read_upload(image, MAX_FRAME_BYTES)
    decoded = decode_image(probe.data, service.settings.image_limits)
    height, width = decoded.rgb.shape[:2]
    try:
        _, template = service.measure_face(probe.data)
    except FieldIDError as exc:
        if exc.code not in ("no_face", "multiple_faces"):
            raise
        return {
            "face_found": False,
            "acceptable_for_search": False,
            "score": 0.0,
            "issues": [{"code": exc.code, "message": exc.message, "blocking": True}],
            "face_box": None,
            "other_faces": 0,
            "width": width,
            "height": height,
            "advice": "No face found: point the camera at the face and fill the guide.",
        }
    q = template.quality
    issues = [{"code": i.code, "message": i.message, "blocking": i.blocking} for i in q.issues]
    advice = (
        "Good capture: hold still and take the photo."
        if not issues
        else "; ".join(dict.fromkeys(_ADVICE.get(i.code, i.message) for i in q.issues))
    )
    return {
        "face_found": True,
        "acceptable_for_search": q.acceptable,
        "score": q.score,
        "issues": issues,
        "face_box": tuple(template.detection.box.as_list()),
        "other_faces": len(template.other_faces),
        "width": width,
        "height": height,
        "advice": advice,
    }


class FingerPrintQuality(BaseModel):
    score: float
    acceptable_for_search: bool
    issues: list[FrameIssue]


class FingerQuality(BaseModel):
    fingers_found: bool
    prints: list[FingerPrintQuality]
    advice: str


@router.post("/finger-quality", response_model=FingerQuality)
def finger_quality(
    image: UploadFile = File(..., description="A finger photo (contactless) or a contact scan."),
    capture: str = Form("contactless", pattern="^(contact|contactless)$"),
    ppi: int = Form(500, ge=250, le=1500),
    actor: Actor = Depends(require(Permission.SEARCH)),
    service: FieldID = Depends(get_service),
) -> dict[str, Any]:
    """Capture guidance for fingers: the prints found in one photo and their quality. Measured and
    discarded: nothing is searched, stored or audited."""
    from fieldid.fingers import FingerInput, prepare_fingers

    probe = read_upload(image, service.settings.max_image_bytes)
    try:
        prints = prepare_fingers(
            FingerInput(probe.data, 0, capture == "contactless", probe.filename or "", ppi), service.settings
        )
    except FieldIDError as exc:
        if exc.code != "no_fingerprint":
            raise
        return {"fingers_found": False, "prints": [], "advice": exc.message}
    out = [
        {
            "score": p.template.quality.score,
            "acceptable_for_search": p.template.quality.acceptable,
            "issues": [
                {"code": i.code, "message": i.message, "blocking": i.blocking}
                for i in p.template.quality.issues
            ],
        }
        for p in prints
    ]
    good = sum(p["acceptable_for_search"] for p in out)
    advice = (
        f"{good} of {len(out)} print(s) usable."
        if good
        else "No usable print: fill the outline with the fingertip, in even light, and hold still."
    )
    return {"fingers_found": True, "prints": out, "advice": advice}


_ADVICE = {
    "face_too_small": "Too far: step closer so the face fills the guide",
    "face_small": "Step a little closer",
    "blurred": "Blurred: hold the phone still",
    "slightly_blurred": "Hold the phone steadier",
    "turned": "Turned: ask the person to face the camera",
    "slightly_turned": "Ask for a straight look",
    "tilted": "Hold the phone upright",
    "under_exposed": "Too dark: move to better light",
    "over_exposed": "Too bright: avoid direct sun and flash",
}


@router.get("/accuracy", response_model=Accuracy)
def accuracy(
    actor: Actor = Depends(require(Permission.GALLERY_READ)), service: FieldID = Depends(get_service)
) -> dict[str, Any]:
    """The calibration in force (its FMR/FNMR curve) and the operating threshold of every
    gallery in the caller's reach at its size and target FPIR."""
    cal = service.calibration(service.face_model_id())
    step = max(1, len(cal.grid) // 160)
    curve = [
        {"score": float(cal.grid[i]), "fmr": float(cal.fmr_point[i]), "fnmr": float(cal.fnmr_point[i])}
        for i in range(0, len(cal.grid), step)
    ]
    points = []
    for g in service.list_galleries(actor):
        op = operating_point(cal, g.target_fpir, max(1, g.identity_count))
        points.append(
            {
                "gallery_id": g.id,
                "name": g.name,
                "kind": g.kind,
                "shared": g.shared,
                "gallery_size": g.identity_count,
                "target_fpir": g.target_fpir,
                "threshold": op.threshold,
                "threshold_fmr": op.threshold_fmr,
                "fnmr_at_threshold": float(cal.fnmr(op.threshold)),
            }
        )
    return {
        "model_id": cal.model_id,
        "calibration_version": cal.version,
        "dataset": cal.dataset,
        "created": cal.created,
        "impostor_pairs": cal.impostor_pairs,
        "genuine_pairs": cal.genuine_pairs,
        "min_measurable_fmr": cal.min_measurable_fmr,
        "notes": dict(cal.notes),
        "curve": curve,
        "galleries": points,
        "evaluation": latest_evaluation(service.settings.data_dir),
    }


def latest_evaluation(data_dir: Path) -> dict[str, Any] | None:
    """The newest ``results.json`` under ``<data_dir>/eval/`` (``fieldid eval faces --out …``)."""
    import json

    root = Path(data_dir) / "eval"
    found = sorted(root.glob("*/results.json"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    for path in reversed(found):
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file: try the one before
        if not isinstance(results, dict):
            continue
        return {
            "source": str(path.relative_to(data_dir)),
            "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC),
            "summary": {
                k: v for k, v in results.items() if isinstance(v, (str, int, float, bool)) or v is None
            },
            "groups": [r for r in results.get("groups") or [] if isinstance(r, dict)],
            "gallery_size_curve": [r for r in results.get("gallery_size_curve") or [] if isinstance(r, dict)],
        }
    return None


def _agency_scope(actor: Actor) -> str | None:
    """None (every agency) only for system administrators."""
    return None if actor.role is Role.SYSTEM_ADMIN else actor.agency_id


@router.get("/misidentifications", response_model=list[MisidentificationOut])
def misidentifications(
    actor: Actor = Depends(require(Permission.REPORT_READ)), service: FieldID = Depends(get_service)
) -> list[dict[str, Any]]:
    """The misidentification register (upheld challenges) of the caller's agency, newest first."""
    from fieldid.storage.tables import Misidentification, Search

    scope = _agency_scope(actor)
    with service.store.read() as s:
        q = select(Misidentification).order_by(Misidentification.recorded_at.desc()).limit(500)
        if scope:
            q = q.where(Misidentification.agency_id == scope)
        out = []
        for m in s.execute(q).scalars():
            search = s.get(Search, m.search_id)
            out.append(
                {
                    "id": m.id,
                    "challenge_id": m.challenge_id,
                    "search_id": m.search_id,
                    "identity_id": m.identity_id,
                    "agency_id": m.agency_id,
                    "details": m.details,
                    "recorded_at": m.recorded_at,
                    "case_number": search.case_number if search else None,
                    "purpose": search.purpose if search else None,
                }
            )
        return out


@router.get("/activity", response_model=Activity)
def activity(
    since: datetime | None = None,
    until: datetime | None = None,
    actor: Actor = Depends(require(Permission.REPORT_READ)),
    service: FieldID = Depends(get_service),
) -> dict[str, Any]:
    """Per-agency and per-officer activity over a period (default: the last 30 days); training
    searches are left out."""
    from fieldid.storage.tables import Review, Search, User

    until = _aware(until) or service.clock.now() + timedelta(seconds=1)  # up to and including now
    since = _aware(since) or until - timedelta(days=30)
    if until <= since:
        raise InvalidRequest("The period must end after it starts.")
    scope = _agency_scope(actor)
    per_user: dict[str, Counter[str]] = {}
    agencies: dict[str, Counter[str]] = {}
    with service.store.read() as s:
        q = select(Search).where(
            Search.created_at >= since, Search.created_at < until, Search.training.is_(False)
        )
        r = select(Review).where(Review.created_at >= since, Review.created_at < until)
        if scope:
            q, r = q.where(Search.agency_id == scope), r.where(Review.agency_id == scope)
        for search in s.execute(q).scalars():
            for c in (
                per_user.setdefault(search.user_id, Counter()),
                agencies.setdefault(search.agency_id, Counter()),
            ):
                c["searches"] += 1
                c[f"outcome_{search.outcome}"] += 1
        for review in s.execute(r).scalars():
            for c in (
                per_user.setdefault(review.reviewer_id, Counter()),
                agencies.setdefault(review.agency_id, Counter()),
            ):
                c["reviews"] += 1
                c["confirms" if review.decision == "confirm" else "rejects"] += 1
        users = {u.id: u for u in s.execute(select(User).where(User.id.in_(list(per_user)))).scalars()}
    keys = (
        "searches",
        "outcome_candidates",
        "outcome_no_candidate",
        "outcome_under_quality",
        "outcome_investigative_list",
        "reviews",
        "confirms",
        "rejects",
    )
    officers = [
        {
            "user_id": uid,
            "username": users[uid].username if uid in users else uid,
            "role": users[uid].role if uid in users else "",
            **{k: int(c.get(k, 0)) for k in keys},
        }
        for uid, c in per_user.items()
    ]
    officers.sort(key=lambda o: (-o["searches"], o["username"]))
    return {
        "since": since,
        "until": until,
        "officers": officers,
        "agencies": {a: {k: int(c.get(k, 0)) for k in keys} for a, c in sorted(agencies.items())},
    }


@router.get("/users", response_model=list[Person])
def users(
    actor: Actor = Depends(require(Permission.AUDIT_READ)), service: FieldID = Depends(get_service)
) -> list[dict[str, Any]]:
    """Who is who in the audit log: the users of the caller's agency (system admins: all), so that
    auditors read names instead of user ids. No keys, no permissions beyond the role."""
    from fieldid.storage.tables import User

    scope = _agency_scope(actor)
    with service.store.read() as s:
        q = select(User).order_by(User.username)
        if scope:
            q = q.where(User.agency_id == scope)
        return [
            {
                "id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "agency_id": u.agency_id,
                "active": u.active,
            }
            for u in s.execute(q).scalars()
        ]


@router.get("/review-queue", response_model=list[ReviewQueueItem])
def review_queue(
    limit: int = Query(50, ge=1, le=200),
    actor: Actor = Depends(require(Permission.REVIEW)),
    service: FieldID = Depends(get_service),
) -> list[dict[str, Any]]:
    """Candidates of the caller's agency that await a second, independent decision and that the
    caller has not reviewed yet (same training mode as the caller). Blind: earlier decisions
    are counted, not shown."""
    from fieldid.governance.review import REQUIRED_CONFIRMATIONS, confirmation_state
    from fieldid.storage.tables import Evidence, Review, Sample, Search

    out: list[dict[str, Any]] = []
    with service.store.read() as s:
        reviews = (
            s.execute(
                select(Review)
                .where(Review.agency_id == actor.agency_id)
                .order_by(Review.created_at.desc())
                .limit(2000)
            )
            .scalars()
            .all()
        )
        by_pair: dict[tuple[str, str], list[Review]] = {}
        for rv in reviews:
            by_pair.setdefault((rv.search_id, rv.identity_id), []).append(rv)
        for (search_id, identity_id), pair in by_pair.items():
            if any(rv.reviewer_id == actor.user_id for rv in pair):
                continue
            search = s.get(Search, search_id)
            if (
                search is None
                or search.agency_id != actor.agency_id
                or search.training != actor.training_mode
            ):
                continue
            evidence = list(
                s.execute(
                    select(Evidence).where(
                        Evidence.search_id == search_id, Evidence.identity_id == identity_id
                    )
                ).scalars()
            )
            if confirmation_state(pair, evidence) != "pending" or len(pair) >= REQUIRED_CONFIRMATIONS:
                continue
            candidate = next(
                (c for c in search.result.get("candidates", []) if c.get("identity_id") == identity_id), None
            )
            if candidate is None:
                continue
            sample_id = s.execute(
                select(Sample.id)
                .where(Sample.identity_id == identity_id, Sample.thumbnail.is_not(None))
                .order_by(Sample.created_at)
                .limit(1)
            ).scalar_one_or_none()
            candidate = {**candidate, "sample_id": sample_id}
            out.append(
                {
                    "search_id": search_id,
                    "created_at": search.created_at,
                    "purpose": search.purpose,
                    "case_number": search.case_number,
                    "gallery_size": search.gallery_size,
                    "decisions_recorded": len(pair),
                    "candidate": candidate,
                    "operating_point": {k: search.result.get(k) for k in ("threshold", "fpir_target")},
                }
            )
            if len(out) >= limit:
                break
    return out


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
