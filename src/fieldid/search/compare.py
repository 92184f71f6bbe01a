"""The one search path: a probe's parts against galleries → a calibrated decision.

Every usable part (quality above its floor) is searched; every candidate any part finds is then
compared exactly by every usable part, and the scores of several parts fuse as log-likelihood
ratios. A face-only search is the one-part case: its score is the face's, its calibration the
face model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from fieldid.calibration_io import Calibrations
from fieldid.core.calibration import Calibration
from fieldid.core.fusion import fused_score
from fieldid.core.policy import Hit, OperatingPoint, Outcome, decide, operating_point
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission
from fieldid.result_views import candidate_view
from fieldid.search.parts import Scores, SearchPart
from fieldid.storage.tables import Gallery, Identity
from fieldid.types import QualityReport
from fieldid.views import CandidateView, ComparisonView, ComponentView, QualityView

FUSION_NOTE = ("Scores of the face and fingers are fused as log-likelihood ratios; the FMR of a fused score "
               "assumes the comparisons are independent.")


@dataclass(frozen=True)
class Compared:
    """What a search found, before linked records are attached and the search is recorded."""

    galleries: list[Gallery]  # as read in the search's transaction (sizes and versions of now)
    gallery_size: int
    point: OperatingPoint
    outcome: str
    candidates: list[CandidateView]
    reasons: list[str]
    modality: str  # "face", "finger" or "face+finger"
    quality: QualityView  # of the first part
    calibration: Calibration  # the one in force for the decision (fused for several parts)
    model_id: str
    #: The parts, when the probe has fingers (a face-only search lists none: the documented API).
    components: tuple[ComponentView, ...]


def compare(
    s: Session, actor: Actor, parts: Sequence[SearchPart], galleries: Sequence[Gallery],
    calibrations: Calibrations, *, top_k: int, investigative: bool,
) -> Compared:
    usable = [i for i, p in enumerate(parts) if p.quality.acceptable]
    components = tuple(
        ComponentView(i, p.modality, p.finger_position, p.contactless, p.quality.score, i in usable,
                      p.quality.issue_codes, p.calibration.model_id, p.calibration.version)
        for i, p in enumerate(parts))
    cals = [parts[i].calibration for i in usable]
    cal = calibrations.fused(cals) if cals else parts[0].calibration
    blocking = tuple(i for p in parts for i in p.quality.issues if i.blocking)
    quality = QualityReport(max(p.quality.score for p in parts), () if usable else blocking)

    fresh = [g for g in (s.get(Gallery, g.id) for g in galleries) if g is not None]
    n = sum(g.identity_count for g in fresh)
    point = operating_point(cal, min(g.target_fpir for g in fresh), max(1, n))
    found: dict[int, Scores] = {i: dict(parts[i].find(s, fresh, top_k)) for i in (usable if n > 0 else [])}
    pool = sorted({k for f in found.values() for k in f})
    for i, scores in found.items():  # every candidate compared by every part, exactly
        missing = [k for k in pool if k not in scores]
        if missing:
            scores.update(parts[i].score(s, missing))

    hits: list[Hit] = []
    detail: dict[str, tuple[ComparisonView, ...]] = {}
    for ident in pool:
        raw = [found[i][ident][0] if ident in found[i] else None for i in usable]
        score = raw[0] if len(usable) == 1 else fused_score(cals, raw)
        if score is None:
            continue
        hits.append(Hit(ident, float(score)))
        detail[ident] = tuple(
            ComparisonView(i, parts[i].modality, components[i].finger_position,
                           None if r is None else round(float(r), 6),
                           None if r is None else float(parts[i].calibration.fmr(r)),
                           0.0 if r is None else round(float(parts[i].calibration.llr(r)), 4))
            for i, r in zip(usable, raw, strict=True))
    decision = decide(cal, hits, quality, point, top_k=top_k, investigative=investigative)

    reasons = list(decision.reasons)
    if n == 0 and decision.outcome is not Outcome.UNDER_QUALITY:
        reasons.insert(0, "The galleries searched are empty.")
    for c in components:
        if not c.searched and usable:
            what = ("the face" if c.modality == "face"
                    else f"finger {c.index} ({c.finger_position or 'unknown'})")
            reasons.append(f"Not searched: {what} is under the quality floor ({', '.join(c.issues)}).")
    if n > 0:
        reasons.extend(dict.fromkeys(note for p in parts for note in p.notes(s, fresh)))  # once per kind
    if len(usable) > 1:
        reasons.append(FUSION_NOTE)
    if actor.training_mode:
        reasons.extend(note for p in parts for note in p.training_feedback())

    with_parts = any(p.modality != "face" for p in parts)
    names = actor.can(Permission.RECORDS_READ)
    by_id = {g.id: g for g in fresh}
    candidates = []
    for c in decision.candidates:
        ident = s.get(Identity, c.key)
        if ident is None:
            continue
        best = max((found[i][c.key] for i in usable if c.key in found[i]), key=lambda v: v[0])
        sample_id = found[usable[0]][c.key][1] if c.key in found[usable[0]] else best[1]
        view = candidate_view(c, ident, by_id[ident.gallery_id].name, sample_id, names)
        candidates.append(replace(view, comparisons=detail[c.key]) if with_parts else view)

    kinds = {parts[i].modality for i in usable} or {parts[0].modality}
    scored = parts[usable[0] if usable else 0]
    return Compared(
        galleries=fresh, gallery_size=n, point=point, outcome=decision.outcome.value, candidates=candidates,
        reasons=reasons, modality="+".join(sorted(kinds)), quality=parts[0].quality_view(), calibration=cal,
        model_id=cal.model_id if len(cals) > 1 else scored.model_id,
        components=components if with_parts else ())
