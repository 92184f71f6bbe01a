"""Searches: 1:N identification (in named galleries, or federated across every gallery in reach)
and 1:1 verification, each checked, rate-limited, decided and put on the record."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from fieldid.calibration_io import Calibrations
from fieldid.context import Context
from fieldid.core.params import SearchParams
from fieldid.core.policy import Hit, assess, operating_point, strength_of
from fieldid.errors import (
    FieldIDError,
    GalleryNotFound,
    InvalidRequest,
    NoFingerprintFound,
    PurposeInvalid,
    PurposeRequired,
    SearchNotFound,
)
from fieldid.extraction import ExtractionService
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.purpose import check_authorization
from fieldid.governance.rate_limit import SearchRateLimit, alert_event
from fieldid.governance.roles import Permission
from fieldid.imaging import DecodedImage
from fieldid.inputs import FingerInput, SearchContext
from fieldid.records import LookupResult, RecordBroker
from fieldid.result_views import calibration_ref, quality_view
from fieldid.search.compare import compare
from fieldid.search.parts import FaceMatcher, FacePart, FingerPart, SearchPart
from fieldid.search.receipts import SearchRecorder
from fieldid.storage import repo
from fieldid.storage.tables import Gallery, Search, Template
from fieldid.template_index import TemplateIndex
from fieldid.views import IdentifyResult, OperatingPointView, VerifyResult

_CASE_RE = re.compile(r"^[\w .:/#\-]{1,120}$", re.UNICODE)
#: Finger images one search may carry.
MAX_FINGERS = 10


class SearchService:
    def __init__(
        self, ctx: Context, *, extraction: ExtractionService, templates: TemplateIndex, faces: FaceMatcher,
        calibrations: Calibrations, records: RecordBroker, rate_limiter: SearchRateLimit,
        params: SearchParams | None = None,
    ) -> None:
        self.ctx = ctx
        self.extraction = extraction
        self.templates = templates
        self.faces = faces
        self.calibrations = calibrations
        self.records = records
        #: Searches per user and minute (and the unusual-volume alert); any :class:`SearchRateLimit`.
        self.rate_limiter = rate_limiter
        self.params = params or SearchParams()
        self.recorder = SearchRecorder(ctx)

    # -- identification ----------------------------------------------------------------------------
    def identify(
        self, actor: Actor, gallery_refs: Sequence[str], image: bytes | None, why: SearchContext, *,
        top_k: int | None = None, investigative: bool = False, fingers: Sequence[FingerInput] = (),
    ) -> IdentifyResult:
        """1:N search of a face probe and/or fingerprints in one or more galleries, with a calibrated
        decision (several parts fuse as log-likelihood ratios)."""
        actor.require(Permission.SEARCH)
        if investigative:
            actor.require(Permission.SEARCH_INVESTIGATIVE)
        why = self.checked(actor, why)
        if not gallery_refs:
            raise InvalidRequest("Name at least one gallery to search.")
        with self.ctx.store.read() as s:
            check_authorization(s, actor, why, self.ctx.now())
            found = [reach.searchable_gallery(s, actor, ref, why.purpose,
                                              self.ctx.now()) for ref in gallery_refs]
        galleries = list({g.id: g for g, _ in found}.values())
        return self._identify(actor, galleries, image, why, top_k=top_k, investigative=investigative,
                              federated=False, fingers=fingers)

    def identify_federated(
        self, actor: Actor, image: bytes | None, why: SearchContext, *, top_k: int | None = None,
        fingers: Sequence[FingerInput] = (),
    ) -> IdentifyResult:
        """The elevated "federated query": every gallery (and record system) the agency may reach
        for this purpose, at once. Needs its own permission and a written justification."""
        actor.require(Permission.SEARCH)
        actor.require(Permission.SEARCH_FEDERATED)
        reach.check_federated(actor)
        why = self.checked(actor, why)
        minimum = self.ctx.settings.federated_justification_min_chars
        if len((why.justification or "").strip()) < minimum:
            raise InvalidRequest(f"A federated query needs a written justification of at least {minimum} "
                                 "characters.", field="justification")
        with self.ctx.store.read() as s:
            check_authorization(s, actor, why, self.ctx.now())
            galleries = [g for g, _ in reach.reachable_galleries(s, actor, why.purpose, self.ctx.now())]
        if not galleries:
            raise GalleryNotFound("No gallery is in reach for this purpose.")
        return self._identify(actor, galleries, image, why, top_k=top_k, investigative=False, federated=True,
                              fingers=fingers)

    def _identify(
        self, actor: Actor, galleries: list[Gallery], image: bytes | None, why: SearchContext, *,
        top_k: int | None, investigative: bool, federated: bool, fingers: Sequence[FingerInput],
    ) -> IdentifyResult:
        top_k = self.params.default_top_k if top_k is None else int(top_k)
        if not 1 <= top_k <= self.params.max_top_k:
            raise InvalidRequest(f"top_k must be between 1 and {self.params.max_top_k}.")
        if image is None and not fingers:
            raise InvalidRequest("Send a face image, fingerprints, or both.")
        if len(fingers) > MAX_FINGERS:
            raise InvalidRequest(f"At most {MAX_FINGERS} finger images per search.", field="fingers")
        self._rate_check(actor)
        try:
            decoded, parts = self._parts(image, fingers)
        except FieldIDError as exc:
            self.recorder.refused(actor, why, galleries, image if image is not None else fingers[0].data, exc)
            raise
        with self.ctx.store.read() as s:
            found = compare(s, actor, parts, galleries, self.calibrations, top_k=top_k,
                            investigative=investigative)
        # Linked records, for roles that may read them (no lookup without candidates).
        candidates, lookup = found.candidates, LookupResult({}, ())
        if candidates and actor.can(Permission.RECORDS_READ):
            lookup = self.records.records_for(actor, [c.identity_id for c in candidates], federated=federated)
            candidates = [replace(c, records=lookup.records_by_identity.get(c.identity_id,
                                                                            ())) for c in candidates]
        n, point = found.gallery_size, found.point
        result = IdentifyResult(
            search_id=str(uuid.uuid4()),
            created_at=self.ctx.now(),
            outcome=found.outcome,
            modality=found.modality,
            galleries=tuple(g.id for g in found.galleries),
            gallery_size=n,
            gallery_versions={g.id: g.version for g in found.galleries},
            operating_point=OperatingPointView(point.threshold, point.threshold_fmr, point.fpir_target, n),
            candidates=tuple(candidates),
            reasons=tuple(found.reasons),
            quality=found.quality,
            model_id=found.model_id,
            calibration=calibration_ref(found.calibration),
            purpose=why.purpose,
            case_number=why.case_number,
            training=actor.training_mode,
            demo=self.ctx.settings.demo or any(g.kind == "demo" for g in found.galleries),
            investigative=investigative,
            federated=federated,
            record_sources=lookup.statuses,
            components=found.components,
        )
        self.recorder.identified(actor, why, result, decoded, lookup)
        return result

    def _parts(self, image: bytes | None,
               fingers: Sequence[FingerInput]) -> tuple[DecodedImage, list[SearchPart]]:
        """Extract every part of a probe: the face first, then each finger image's prints.
        Returns (the image kept with the search: the face, else the first finger image; the parts)."""
        parts: list[SearchPart] = []
        decoded: DecodedImage | None = None
        if image is not None:
            decoded, face = self.extraction.face(image)
            parts.append(FacePart(face, self.calibrations.get(face.model), self.faces))
        for finger in fingers:
            for prepared in self.extraction.fingers(finger):
                decoded = decoded or prepared.decoded
                parts.append(FingerPart(prepared, self.calibrations.get(prepared.model_id), self.templates,
                                        exhaustive_max=self.ctx.settings.finger_exhaustive_max,
                                        shortlist=self.params.finger_shortlist))
        if decoded is None:  # finger images that held no print
            raise NoFingerprintFound("No fingerprint was found in the finger images.")
        return decoded, parts

    # -- verification ------------------------------------------------------------------------------
    def verify(self, actor: Actor, identity_id: str, image: bytes, why: SearchContext) -> VerifyResult:
        """1:1 comparison of a face probe with one enrolled identity."""
        actor.require(Permission.SEARCH)
        why = self.checked(actor, why)
        with self.ctx.store.read() as s:
            check_authorization(s, actor, why, self.ctx.now())
            ident = reach.identity_in_reach(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
        self._rate_check(actor)
        try:
            decoded, template = self.extraction.face(image)
        except FieldIDError as exc:
            self.recorder.refused(actor, why, [gallery], image, exc)
            raise
        cal = self.calibrations.get(template.model)
        with self.ctx.store.read() as s:
            vectors = [repo.vector_from_bytes(t.vector) for t in s.query(Template).filter(
                Template.identity_id == identity_id, Template.model_id == template.model)]
        if not vectors:
            raise InvalidRequest("The identity has no face template of the current model.")
        score = float(max(np.dot(v, template.embedding) for v in vectors))
        target = self.ctx.settings.verify_target_fmr
        threshold = cal.threshold_at_fmr(target)
        assessed = assess(cal, Hit(identity_id, score), 1, operating_point(cal, 0.5, 1))
        acceptable = template.quality.acceptable
        assessment = "supports_same_person" if acceptable and score >= threshold else "inconclusive"
        if not acceptable:
            assessment = "under_quality"
        result = VerifyResult(
            search_id=str(uuid.uuid4()),
            created_at=self.ctx.now(),
            identity_id=identity_id,
            pseudonym=ident.pseudonym,
            score=round(score, 6),
            fmr=assessed.fmr,
            fmr_ci95=assessed.fmr_interval,
            strength=strength_of(assessed.fmr_interval[1]).value,
            explanation=assessed.explanation,
            assessment=assessment,
            threshold=threshold,
            threshold_fmr=target,
            quality=quality_view(template),
            model_id=template.model,
            calibration=calibration_ref(cal),
            purpose=why.purpose,
            case_number=why.case_number,
        )
        self.recorder.verified(actor, why, result, decoded, gallery)
        return result

    # -- receipts ------------------------------------------------------------------------------------
    def get_search(self, actor: Actor, search_id: str) -> dict[str, object]:
        """The stored receipt of a search (own agency; auditors and the searcher)."""
        with self.ctx.store.read() as s:
            row = s.get(Search, search_id)
            if not reach.receipt_in_reach(actor, row):
                raise SearchNotFound(f"No search {search_id!r} in reach.")
            assert row is not None
            return {"id": row.id, "kind": row.kind, "created_at": row.created_at, "purpose": row.purpose,
                    "case_number": row.case_number, "outcome": row.outcome, "gallery_size": row.gallery_size,
                    "result": row.result, "training": row.training}

    # -- checks ----------------------------------------------------------------------------------------
    def checked(self, actor: Actor, why: SearchContext) -> SearchContext:
        """The search's purpose and case, validated and trimmed (every search needs both)."""
        purpose = (why.purpose or "").strip()
        case = (why.case_number or "").strip()
        if not purpose or not case:
            raise PurposeRequired("Every search needs a purpose code and a case number.")
        allowed = set(self.ctx.settings.purpose_codes) | ({"training"} if actor.training_mode else set())
        if purpose not in allowed:
            raise PurposeInvalid(f"Unknown purpose code {purpose!r}.", allowed=sorted(allowed))
        if not _CASE_RE.match(case):
            raise InvalidRequest("Case number: 1–120 letters, digits, spaces or . : / # - _")
        return SearchContext(purpose, case, (why.legal_basis or "").strip()[:200],
                             why.authorization_ref, why.justification)

    def _rate_check(self, actor: Actor) -> None:
        decision = self.rate_limiter.hit(actor.user_id, self.ctx.now())
        if decision.alert:
            with self.ctx.store.write() as s:
                self.ctx.audit(s, alert_event(actor, decision, self.ctx.settings.rate_alert_per_hour))
