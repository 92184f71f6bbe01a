"""What a search leaves on the record, built in one place: the search row (its receipt), the
probe image with its retention class, the audit event, and which linked records were shown.

Identification, verification and refused searches (a probe that could not be used) all go
through :class:`SearchRecorder`, in one transaction each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.core.policy import Outcome
from fieldid.errors import FieldIDError
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.imaging import DecodedImage, encode_jpeg
from fieldid.inputs import SearchContext
from fieldid.records import LookupResult, record_access_event
from fieldid.storage.tables import Gallery, ProbeImage, Search
from fieldid.types import Modality
from fieldid.views import IdentifyResult, VerifyResult

#: Outcomes after which the probe image is kept for days (something was shown), not hours.
_SHOWN = (Outcome.CANDIDATES.value, Outcome.INVESTIGATIVE_LIST.value, "supports_same_person")


class SearchRecorder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def retention(self, outcome: str) -> tuple[str, datetime]:
        """(retention class, expiry) of a probe image after a search with ``outcome``."""
        now, settings = self.ctx.now(), self.ctx.settings
        if outcome in _SHOWN:
            return "probe_candidates", now + timedelta(days=settings.retention_probe_candidates_days)
        return "probe_no_candidate", now + timedelta(hours=settings.retention_probe_no_candidate_hours)

    def identified(self, actor: Actor, why: SearchContext, result: IdentifyResult, decoded: DecodedImage,
                   lookup: LookupResult | None = None) -> None:
        """A 1:N search: receipt, probe image, ``search.identify`` and, when linked records were
        shown, the ``record.access`` event (which records, to whom) — in the search's transaction."""
        shown = [
            {"identity_id": c.identity_id, "pseudonym": c.pseudonym, "rank": c.rank, "score": c.score,
             "fmr": c.fmr, "expected_false_candidates": c.expected_false_candidates, "tier": c.tier}
            for c in result.candidates
        ]
        details = {
            "search_id": result.search_id,
            "outcome": result.outcome,
            "galleries": list(result.galleries),
            "gallery_size": result.gallery_size,
            "gallery_versions": result.gallery_versions,
            "probe_sha256": decoded.sha256,
            "quality_score": result.quality.score,
            "quality_issues": [i.code for i in result.quality.issues],
            "candidates": shown,
            "threshold": result.operating_point.threshold,
            "fpir_target": result.operating_point.fpir_target,
            "model_id": result.model_id,
            "calibration_version": result.calibration.version,
            "investigative": result.investigative,
            "training": result.training,
            "federated": result.federated,
            "justification": why.justification if result.federated else None,
            "legal_basis": why.legal_basis,
            "authorization_ref": why.authorization_ref,
            "via": actor.via,
        }
        gallery = result.galleries[0] if len(result.galleries) == 1 else None
        with self.ctx.store.write() as s:
            self._receipt(s, actor, why, "identify", result.search_id, result.created_at,
                          list(result.galleries),
                          result.modality, decoded, result.gallery_size, result.outcome, details)
            self.ctx.audit(s, Event(EventType.SEARCH_IDENTIFY, actor.agency_id, actor.user_id, why.purpose,
                                    why.case_number, gallery, details))
            access = None if lookup is None else record_access_event(
                actor, lookup, search_id=result.search_id, purpose=why.purpose, case_number=why.case_number,
                federated=result.federated)
            if access is not None:
                self.ctx.audit(s, access)

    def verified(self, actor: Actor, why: SearchContext, result: VerifyResult, decoded: DecodedImage,
                 gallery: Gallery) -> None:
        """A 1:1 comparison: receipt, probe image and ``search.verify``."""
        details = {
            "search_id": result.search_id, "identity_id": result.identity_id, "score": result.score,
            "fmr": result.fmr, "assessment": result.assessment, "threshold": result.threshold,
            "probe_sha256": decoded.sha256, "model_id": result.model_id,
            "calibration_version": result.calibration.version, "quality_score": result.quality.score,
            "legal_basis": why.legal_basis, "via": actor.via,
        }
        with self.ctx.store.write() as s:
            self._receipt(s, actor, why, "verify", result.search_id, result.created_at, [gallery.id],
                          Modality.FACE.value, decoded, 1, result.assessment, details)
            self.ctx.audit(s, Event(EventType.SEARCH_VERIFY, actor.agency_id, actor.user_id, why.purpose,
                                    why.case_number, gallery.id, details))

    def refused(self, actor: Actor, why: SearchContext, galleries: Sequence[Gallery], probe: bytes,
                exc: FieldIDError) -> None:
        """A search whose probe could not be used is still on the record (without the image)."""
        with self.ctx.store.write() as s:
            self.ctx.audit(s, Event(EventType.SEARCH_REFUSED, actor.agency_id, actor.user_id, why.purpose,
                                    why.case_number, None,
                                    {"error": exc.code, "galleries": [g.id for g in galleries],
                                     "probe_sha256": hashlib.sha256(probe).hexdigest(), "via": actor.via}))

    def _receipt(self, s: Session, actor: Actor, why: SearchContext, kind: str, search_id: str, at: datetime,
                 gallery_ids: list[str], modality: str, decoded: DecodedImage, gallery_size: int,
                 outcome: str, details: dict[str, Any]) -> None:
        s.add(Search(
            id=search_id, agency_id=actor.agency_id, user_id=actor.user_id, kind=kind,
            gallery_ids=gallery_ids,
            purpose=why.purpose, case_number=why.case_number, legal_basis=why.legal_basis, modality=modality,
            probe_sha256=decoded.sha256, gallery_size=gallery_size, outcome=outcome, result=details,
            training=actor.training_mode, created_at=at,
        ))
        s.flush()  # the search row before its probe image (foreign key)
        retention_class, expires = self.retention(outcome)
        s.add(ProbeImage(search_id=search_id, agency_id=actor.agency_id, image=encode_jpeg(decoded.rgb, 90),
                         retention_class=retention_class, expires_at=expires, created_at=at))
