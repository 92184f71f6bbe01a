"""JSON routes the web app needs beyond the public API (prefix ``/v1/web``).

Thin like every route: each checks the same permission table, reads through the services (which
apply the caller's reach), and never weakens tenancy. Nothing here searches a gallery or stores an
image: the capture-quality check only measures a frame and forgets it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from fieldid.api.deps import (
    AuditReader,
    Caller,
    Fid,
    GalleryReader,
    ReportReader,
    Reviewer,
    Searcher,
    read_upload,
)
from fieldid.clock import as_utc
from fieldid.core.policy import operating_point
from fieldid.errors import FieldIDError
from fieldid.imaging import decode_image
from fieldid.inputs import FingerInput

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
def config(actor: Caller, fid: Fid) -> dict[str, Any]:
    """What the field app's forms offer: purpose codes, demo and training flags."""
    return {
        "purpose_codes": list(fid.settings.purpose_codes),
        "training_purpose": TRAINING_PURPOSE,
        "demo": bool(fid.settings.demo),
        "training_mode": actor.training_mode,
        "max_image_bytes": fid.settings.max_image_bytes,
        "federated_justification_min_chars": fid.settings.federated_justification_min_chars,
    }


@router.post("/quality", response_model=FrameQuality)
def frame_quality(
    actor: Searcher,
    fid: Fid,
    image: UploadFile = File(..., description="A camera frame or the captured still."),
) -> dict[str, Any]:
    """Capture guidance: face found, size, blur, pose and exposure of one frame. The frame is
    measured and discarded: nothing is searched, stored or audited."""
    probe = read_upload(image, MAX_FRAME_BYTES)
    decoded = decode_image(probe.data, fid.settings.image_limits)
    height, width = decoded.rgb.shape[:2]
    try:
        _, template = fid.extraction.measure_face(probe.data)
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
    actor: Searcher,
    fid: Fid,
    image: UploadFile = File(..., description="A finger photo (contactless) or a contact scan."),
    capture: str = Form("contactless", pattern="^(contact|contactless)$"),
    ppi: int = Form(500, ge=250, le=1500),
) -> dict[str, Any]:
    """Capture guidance for fingers: the prints found in one photo and their quality. Measured and
    discarded: nothing is searched, stored or audited."""
    probe = read_upload(image, fid.settings.max_image_bytes)
    try:
        prints = fid.extraction.fingers(FingerInput(probe.data, 0, capture == "contactless",
                                                    probe.filename or "", ppi))
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
def accuracy(actor: GalleryReader, fid: Fid) -> dict[str, Any]:
    """The calibration in force (its FMR/FNMR curve) and the operating threshold of every
    gallery in the caller's reach at its size and target FPIR."""
    cal = fid.calibrations.get(fid.extraction.face_model_id())
    step = max(1, len(cal.grid) // 160)
    curve = [
        {"score": float(cal.grid[i]), "fmr": float(cal.fmr_point[i]), "fnmr": float(cal.fnmr_point[i])}
        for i in range(0, len(cal.grid), step)
    ]
    points = []
    for g in fid.galleries.list_galleries(actor):
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
        "evaluation": latest_evaluation(fid.settings.data_dir),
    }


def latest_evaluation(data_dir: Path) -> dict[str, Any] | None:
    """The newest ``results.json`` under ``<data_dir>/eval/`` (``fieldid eval faces --out …``)."""
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


@router.get("/misidentifications", response_model=list[MisidentificationOut])
def misidentifications(actor: ReportReader, fid: Fid) -> list[dict[str, Any]]:
    """The misidentification register (upheld challenges) of the caller's agency, newest first."""
    return fid.redress.misidentifications(actor)


@router.get("/activity", response_model=Activity)
def activity(actor: ReportReader, fid: Fid, since: datetime | None = None,
             until: datetime | None = None) -> dict[str, Any]:
    """Per-agency and per-officer activity over a period (default: the last 30 days); training
    searches are left out."""
    return fid.oversight.activity(actor, since=as_utc(since), until=as_utc(until))


@router.get("/users", response_model=list[Person])
def users(actor: AuditReader, fid: Fid) -> list[dict[str, Any]]:
    """Who is who in the audit log: the users of the caller's agency (system admins: all), so that
    auditors read names instead of user ids. No keys, no permissions beyond the role."""
    return fid.oversight.people(actor)


@router.get("/review-queue", response_model=list[ReviewQueueItem])
def review_queue(actor: Reviewer, fid: Fid, limit: int = Query(50, ge=1, le=200)) -> list[dict[str, Any]]:
    """Candidates of the caller's agency that await a second, independent decision and that the
    caller has not reviewed yet (same training mode as the caller). Blind: earlier decisions
    are counted, not shown."""
    return fid.review.review_queue(actor, limit)
