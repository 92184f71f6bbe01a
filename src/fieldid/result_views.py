"""Turning rows, extracted templates, assessed candidates and calibrations into the plain views
the services return (:mod:`fieldid.views`)."""

from __future__ import annotations

from fieldid.core.calibration import Calibration
from fieldid.core.policy import AssessedCandidate
from fieldid.fingers import PreparedFinger
from fieldid.storage.tables import Gallery, Identity, Sample
from fieldid.types import FaceTemplate
from fieldid.views import (
    CalibrationRef,
    CandidateView,
    GalleryView,
    IdentityView,
    QualityIssueView,
    QualityView,
    SampleView,
)


def gallery_view(g: Gallery, shared: bool = False) -> GalleryView:
    return GalleryView(g.id, g.agency_id, g.name, g.description, g.kind, g.target_fpir, g.identity_count,
                       g.version, g.created_at, shared)


def identity_view(ident: Identity, gallery: Gallery, *, samples: list[Sample] | None = None,
                  names: bool = True) -> IdentityView:
    """``names``: the caller may read names and subject keys (else they are left out)."""
    return IdentityView(
        id=ident.id,
        pseudonym=ident.pseudonym,
        display_name=ident.display_name if names else "",
        subject_key=ident.subject_key if names else None,
        gallery_id=ident.gallery_id,
        gallery_name=gallery.name,
        created_at=ident.created_at,
        samples=tuple(
            SampleView(x.id, x.modality, x.finger_position, x.source, x.captured_at, x.legal_basis,
                       x.quality_score, x.created_at)
            for x in (samples or [])
        ),
    )


def finger_quality_view(prepared: PreparedFinger) -> QualityView:
    q = prepared.template.quality
    return QualityView(score=q.score, acceptable_for_search=q.acceptable,
                       issues=tuple(QualityIssueView(i.code, i.message, i.blocking) for i in q.issues),
                       measures={k: round(v, 4) for k, v in q.measures.items()})


def quality_view(template: FaceTemplate) -> QualityView:
    q = template.quality
    return QualityView(
        score=q.score,
        acceptable_for_search=q.acceptable,
        issues=tuple(QualityIssueView(i.code, i.message, i.blocking) for i in q.issues),
        measures={k: round(v, 4) for k, v in q.measures.items()},
        face_box=tuple(template.detection.box.as_list()),  # type: ignore[arg-type]
        other_faces=tuple(tuple(d.box.as_list()) for d in template.other_faces),  # type: ignore[misc]
    )


def candidate_view(c: AssessedCandidate, ident: Identity, gallery_name: str, sample_id: str,
                   names: bool) -> CandidateView:
    return CandidateView(
        rank=c.rank,
        identity_id=ident.id,
        pseudonym=ident.pseudonym,
        display_name=ident.display_name if names else None,
        gallery_id=ident.gallery_id,
        gallery_name=gallery_name,
        sample_id=sample_id,
        score=round(c.score, 6),
        fmr=c.fmr,
        fmr_ci95=c.fmr_interval,
        expected_false_candidates=c.expected_false_candidates,
        expected_false_candidates_ci95_high=c.expected_false_candidates_high,
        tier=c.tier.value,
        strength=c.strength.value,
        explanation=c.explanation,
    )


def training_feedback(template: FaceTemplate) -> tuple[str, ...]:
    """Practice feedback on capture for trainees (training mode only)."""
    q = template.quality
    if not q.issues:
        return (f"Training: good capture (quality {q.score:.0f}/100). Next, practise reading the candidate "
                "list: check FMR and expected false candidates before anything else.",)
    tips = {"face_too_small": "step closer so the face fills the guide", "face_small": "step closer",
            "blurred": "hold the phone still and tap to focus", "slightly_blurred": "hold the phone steadier",
            "turned": "ask the person to look at the camera", "slightly_turned": "ask for a straight look",
            "tilted": "hold the phone upright", "under_exposed": "move to better light",
            "over_exposed": "avoid direct sun and flash"}
    advice = "; ".join(dict.fromkeys(tips.get(i.code, i.message) for i in q.issues))
    return (f"Training: capture quality {q.score:.0f}/100 — {advice}.",)


def calibration_ref(cal: Calibration) -> CalibrationRef:
    return CalibrationRef(cal.version, cal.model_id, cal.dataset, cal.impostor_pairs, cal.genuine_pairs)
