"""Multi-part searches: a face and/or fingers, each part searched and every candidate compared
by every part, fused as log-likelihood ratios (a mixin of :class:`fieldid.service.FieldID`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from fieldid.core.calibration import Calibration
from fieldid.core.policy import Hit, Outcome, decide, operating_point
from fieldid.errors import FieldIDError
from fieldid.fingers import FingerInput, PreparedFinger, prepare_fingers
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission
from fieldid.imaging import DecodedImage
from fieldid.result_views import (
    _candidate_view,
    _finger_quality_view,
    _quality_view,
    part_quality,
)
from fieldid.storage import repo
from fieldid.storage.base import space_key
from fieldid.storage.tables import Gallery, Identity, Template
from fieldid.types import FaceTemplate, QualityReport
from fieldid.views import ComparisonView, ComponentView, IdentifyResult

if TYPE_CHECKING:
    from fieldid.service import FieldID, SearchContext


class MultiModalOps:
    def _identify_multi(
        self: FieldID, actor: Actor, galleries: list[Gallery], image: bytes | None, fingers: Sequence[FingerInput],
        ctx: SearchContext, *, top_k: int, investigative: bool, federated: bool,
    ) -> IdentifyResult:
        """Face and/or fingers: each usable part is searched, every candidate any part finds is
        compared exactly by every part, and the scores fuse as log-likelihood ratios."""
        from fieldid.core.fusion import fuse_calibrations, fused_score
        from fieldid.fingers import finger_gallery_notes, score_identities, search_finger

        face: FaceTemplate | None = None
        prints: list[PreparedFinger] = []
        decoded: DecodedImage | None = None
        try:
            if image is not None:
                decoded, face = self._extract(image)
            for finger in fingers:
                prints.extend(prepare_fingers(finger, self.settings))
        except FieldIDError as exc:
            self._record_refused(actor, ctx, galleries, image if image is not None else fingers[0].data, exc)
            raise
        decoded = decoded or prints[0].decoded
        parts: list[tuple[str, FaceTemplate | PreparedFinger, Calibration]] = []
        if face is not None:
            parts.append(("face", face, self.calibration(face.model)))
        parts += [("finger", p, self.calibration(p.model_id)) for p in prints]
        usable = [i for i, (_, part, _) in enumerate(parts) if part_quality(part).acceptable]
        components = tuple(
            ComponentView(i, kind, None if kind == "face" else part.position,  # type: ignore[union-attr]
                          kind == "finger" and part.template.contactless,  # type: ignore[union-attr]
                          part_quality(part).score, i in usable, part_quality(part).issue_codes,
                          cal.model_id, cal.version)
            for i, (kind, part, cal) in enumerate(parts))
        cals = [parts[i][2] for i in usable]
        if len(cals) == 1:
            cal = cals[0]
        elif cals:
            key = "fused:" + "+".join(c.version for c in cals)
            if key not in self._calibrations:
                self._calibrations[key] = fuse_calibrations(cals, model_id="+".join(c.model_id for c in cals))
            cal = self._calibrations[key]
        else:
            cal = parts[0][2]
        blocking = tuple(i for _, part, _ in parts for i in part_quality(part).issues if i.blocking)
        quality = QualityReport(max(part_quality(p).score for _, p, _ in parts), () if usable else blocking)
        with self.store.read() as s:
            fresh = [s.get(Gallery, g.id) for g in galleries]
            galleries = [g for g in fresh if g is not None]
            gallery_ids = [g.id for g in galleries]
            n = sum(g.identity_count for g in galleries)
            point = operating_point(cal, min(g.target_fpir for g in galleries), max(1, n))
            found: dict[int, dict[str, tuple[float, str]]] = {}
            for i in usable if n > 0 else []:
                kind, part, _ = parts[i]
                if kind == "face":
                    spaces = [space_key(g, part.model) for g in gallery_ids]  # type: ignore[union-attr]
                    hits_ = self._search_face(s, spaces, part.embedding, top_k)  # type: ignore[union-attr]
                    found[i] = {k: (v[0], v[1].sample_id) for k, v in hits_.items()}
                else:
                    found[i] = search_finger(s, self.index, gallery_ids, part,  # type: ignore[arg-type]
                                             exhaustive_max=self.settings.finger_exhaustive_max,
                                             shortlist=self.search_params.finger_shortlist)
            pool = sorted({k for f in found.values() for k in f})
            for i in found:  # every candidate compared by every part, exactly
                missing = [k for k in pool if k not in found[i]]
                kind, part, _ = parts[i]
                if missing and kind == "face":
                    found[i].update(self._face_scores(s, part, missing))  # type: ignore[arg-type]
                elif missing:
                    found[i].update(score_identities(s, part, missing))  # type: ignore[arg-type]
            hits: list[Hit] = []
            detail: dict[str, tuple[ComparisonView, ...]] = {}
            for ident in pool:
                raw = [found[i][ident][0] if ident in found[i] else None for i in usable]
                score = raw[0] if len(usable) == 1 else fused_score(cals, raw)
                if score is None:
                    continue
                hits.append(Hit(ident, float(score)))
                detail[ident] = tuple(
                    ComparisonView(i, parts[i][0], components[i].finger_position,
                                   None if r is None else round(float(r), 6),
                                   None if r is None else float(parts[i][2].fmr(r)),
                                   0.0 if r is None else round(float(parts[i][2].llr(r)), 4))
                    for i, r in zip(usable, raw, strict=True))
            decision = decide(cal, hits, quality, point, top_k=top_k, investigative=investigative)
            reasons = list(decision.reasons)
            if n == 0 and decision.outcome is not Outcome.UNDER_QUALITY:
                reasons.insert(0, "The galleries searched are empty.")
            for c in components:
                if not c.searched and usable:
                    what = "the face" if c.modality == "face" else f"finger {c.index} ({c.finger_position or 'unknown'})"
                    reasons.append(f"Not searched: {what} is under the quality floor ({', '.join(c.issues)}).")
            if n > 0 and any(kind == "finger" for kind, _, _ in parts):
                reasons.extend(finger_gallery_notes(s, gallery_ids))
            if n > 0 and face is not None:
                reasons.extend(self._face_model_notes(s, galleries, face.model))
            if len(usable) > 1:
                reasons.append("Scores of the face and fingers are fused as log-likelihood ratios; the FMR of "
                               "a fused score assumes the comparisons are independent.")
            names = actor.can(Permission.RECORDS_READ)
            by_id = {g.id: g for g in galleries}
            candidates = []
            for c in decision.candidates:
                ident = s.get(Identity, c.key)
                if ident is None:
                    continue
                best = max((found[i][c.key] for i in usable if c.key in found[i]), key=lambda v: v[0])
                sample_id = found[usable[0]][c.key][1] if c.key in found[usable[0]] else best[1]
                candidates.append(replace(_candidate_view(c, ident, by_id[ident.gallery_id].name, sample_id, names),
                                          comparisons=detail[c.key]))
        kinds = {parts[i][0] for i in usable} or {parts[0][0]}
        return self._finish_search(
            actor, ctx, galleries, n, point, decision.outcome.value, candidates, reasons,
            modality="+".join(sorted(kinds)),
            quality=_quality_view(face) if face is not None else _finger_quality_view(prints[0]),
            cal=cal, model_id=cal.model_id, investigative=investigative, federated=federated, decoded=decoded,
            components=components)

    def _face_scores(self: FieldID, s: Session, face: FaceTemplate, identity_ids: Sequence[str]) -> dict[str, tuple[float, str]]:
        best: dict[str, tuple[float, str]] = {}
        for row in s.query(Template).filter(Template.identity_id.in_(list(identity_ids)),
                                            Template.model_id == face.model):
            score = float(np.dot(repo.vector_from_bytes(row.vector), face.embedding))
            if score > best.get(row.identity_id, (-2.0, ""))[0]:
                best[row.identity_id] = (score, row.sample_id)
        return best

