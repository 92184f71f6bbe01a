"""Two-person confirmation of a candidate, with documentary evidence that can block it.

A candidate of a search becomes *confirmed* only when two different reviewers have confirmed
it independently, nobody rejected it, and no blocking evidence (e.g. an identity document or
a citizenship claim) was recorded. Decisions are blind: a reviewer sees how many decisions
exist, but not what they are, until they have recorded their own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.errors import Conflict, InvalidRequest, SearchNotFound
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage.tables import Evidence, ProbeImage, Review, Sample, Search

EVIDENCE_KINDS = ("identity_document", "citizenship_claim", "alibi", "biometric_mismatch", "other")
REQUIRED_CONFIRMATIONS = 2


def confirmation_state(reviews: list[Review], evidence: list[Evidence]) -> str:
    """pending | confirmed | rejected | disputed | blocked."""
    if any(e.blocks_confirmation for e in evidence):
        return "blocked"
    confirms = {r.reviewer_id for r in reviews if r.decision == "confirm"}
    rejects = {r.reviewer_id for r in reviews if r.decision == "reject"}
    if confirms and rejects:
        return "disputed"
    if rejects:
        return "rejected"
    if len(confirms) >= REQUIRED_CONFIRMATIONS:
        return "confirmed"
    return "pending"


def reviews_of(s: Session, search_id: str, identity_id: str) -> tuple[list[Review], list[Evidence]]:
    """The decisions and evidence recorded on one candidate of one search, oldest first."""
    reviews = list(s.execute(select(Review).where(Review.search_id == search_id,
                                                  Review.identity_id == identity_id)
                             .order_by(Review.created_at)).scalars())
    evidence = list(s.execute(select(Evidence).where(Evidence.search_id == search_id,
                                                     Evidence.identity_id == identity_id)
                              .order_by(Evidence.created_at)).scalars())
    return reviews, evidence


class ReviewService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _reviewable(self, s: Session, actor: Actor, search_id: str, identity_id: str) -> Search:
        search = s.get(Search, search_id)
        if not reach.search_in_reach(actor, search, same_mode=True):
            raise SearchNotFound(f"No search {search_id!r} in reach.")
        assert search is not None
        shown = {c["identity_id"] for c in search.result.get("candidates", [])}
        if identity_id not in shown:
            raise InvalidRequest("Only a candidate shown by this search can be reviewed.")
        return search

    def review_candidate(self, actor: Actor, search_id: str, identity_id: str, decision: str,
                         note: str = "") -> dict[str, object]:
        actor.require(Permission.REVIEW)
        if decision not in ("confirm", "reject"):
            raise InvalidRequest("decision must be 'confirm' or 'reject'.")
        now = self.ctx.now()
        with self.ctx.store.write() as s:
            search = self._reviewable(s, actor, search_id, identity_id)
            existing = s.execute(select(Review).where(
                Review.search_id == search_id, Review.identity_id == identity_id,
                Review.reviewer_id == actor.user_id)).scalar_one_or_none()
            if existing is not None:
                raise Conflict(
                    "You have already reviewed this candidate; a second decision needs another reviewer.")
            s.add(Review(id=str(uuid.uuid4()), search_id=search_id, identity_id=identity_id,
                         agency_id=actor.agency_id, reviewer_id=actor.user_id, decision=decision,
                         note=note[:2000], created_at=now))
            s.flush()
            state = confirmation_state(*reviews_of(s, search_id, identity_id))
            if state == "confirmed":
                probe = s.get(ProbeImage, search_id)
                if probe is not None:
                    probe.retention_class = "probe_confirmed"
                    probe.expires_at = now + timedelta(days=self.ctx.settings.retention_probe_confirmed_days)
            self.ctx.audit(s, Event(EventType.REVIEW_DECISION, actor.agency_id, actor.user_id, search.purpose,
                                    search.case_number, None,
                                    {"search_id": search_id, "identity_id": identity_id, "decision": decision,
                                     "state": state, "note": note[:500]}))
        return self.review_status(actor, search_id, identity_id)

    def record_evidence(self, actor: Actor, search_id: str, identity_id: str, *, kind: str,
                        description: str, blocks_confirmation: bool) -> dict[str, object]:
        actor.require(Permission.REVIEW)
        if kind not in EVIDENCE_KINDS:
            raise InvalidRequest("Unknown evidence kind.", allowed=list(EVIDENCE_KINDS))
        if not description.strip():
            raise InvalidRequest("Describe the evidence.")
        with self.ctx.store.write() as s:
            search = self._reviewable(s, actor, search_id, identity_id)
            s.add(Evidence(id=str(uuid.uuid4()), search_id=search_id, identity_id=identity_id,
                           agency_id=actor.agency_id, recorded_by=actor.user_id, kind=kind,
                           description=description[:4000], blocks_confirmation=bool(blocks_confirmation),
                           created_at=self.ctx.now()))
            s.flush()
            state = confirmation_state(*reviews_of(s, search_id, identity_id))
            self.ctx.audit(s, Event(EventType.REVIEW_EVIDENCE, actor.agency_id, actor.user_id, search.purpose,
                                    search.case_number, None,
                                    {"search_id": search_id, "identity_id": identity_id, "kind": kind,
                                     "blocks_confirmation": bool(blocks_confirmation), "state": state}))
        return self.review_status(actor, search_id, identity_id)

    def review_status(self, actor: Actor, search_id: str, identity_id: str) -> dict[str, object]:
        """The candidate's state; others' decisions only once the actor has decided (blind review)."""
        with self.ctx.store.read() as s:
            if not reach.search_in_reach(actor, s.get(Search, search_id)):
                raise SearchNotFound(f"No search {search_id!r} in reach.")
            reviews, evidence = reviews_of(s, search_id, identity_id)
            mine = next((r for r in reviews if r.reviewer_id == actor.user_id), None)
            may_see = mine is not None or actor.can(Permission.AUDIT_READ)
            state = confirmation_state(reviews, evidence)
            if not may_see and state != "blocked":
                state = "pending"  # the state would reveal the others' decisions
            return {
                "search_id": search_id,
                "identity_id": identity_id,
                "state": state,
                "required_confirmations": REQUIRED_CONFIRMATIONS,
                "decisions_recorded": len(reviews),
                "my_decision": mine.decision if mine else None,
                "decisions": [{"reviewer_id": r.reviewer_id, "decision": r.decision, "note": r.note,
                               "at": r.created_at} for r in reviews] if may_see else [],
                "evidence": [{"kind": e.kind, "description": e.description,
                              "blocks_confirmation": e.blocks_confirmation, "recorded_by": e.recorded_by,
                              "at": e.created_at} for e in evidence],
            }

    def review_queue(self, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
        """Candidates of the actor's agency that await a second, independent decision and that the
        actor has not reviewed yet (same training mode as the actor). Blind: earlier decisions
        are counted, not shown."""
        actor.require(Permission.REVIEW)
        out: list[dict[str, Any]] = []
        with self.ctx.store.read() as s:
            reviews = s.execute(select(Review).where(reach.own_rows(Review.agency_id, actor))
                                .order_by(Review.created_at.desc()).limit(2000)).scalars().all()
            by_pair: dict[tuple[str, str], list[Review]] = {}
            for rv in reviews:
                by_pair.setdefault((rv.search_id, rv.identity_id), []).append(rv)
            for (search_id, identity_id), pair in by_pair.items():
                if any(rv.reviewer_id == actor.user_id for rv in pair):
                    continue
                search = s.get(Search, search_id)
                if not reach.search_in_reach(actor, search, same_mode=True):
                    continue
                assert search is not None
                evidence = list(s.execute(select(Evidence).where(
                    Evidence.search_id == search_id, Evidence.identity_id == identity_id)).scalars())
                if confirmation_state(pair, evidence) != "pending" or len(pair) >= REQUIRED_CONFIRMATIONS:
                    continue
                candidate = next(
                    (c for c in search.result.get("candidates",
                                                  []) if c.get("identity_id") == identity_id), None)
                if candidate is None:
                    continue
                sample_id = s.execute(select(Sample.id).where(Sample.identity_id == identity_id,
                                                              Sample.thumbnail.is_not(None))
                                      .order_by(Sample.created_at).limit(1)).scalar_one_or_none()
                out.append({
                    "search_id": search_id,
                    "created_at": search.created_at,
                    "purpose": search.purpose,
                    "case_number": search.case_number,
                    "gallery_size": search.gallery_size,
                    "decisions_recorded": len(pair),
                    "candidate": {**candidate, "sample_id": sample_id},
                    "operating_point": {k: search.result.get(k) for k in ("threshold", "fpir_target")},
                })
                if len(out) >= limit:
                    break
        return out
