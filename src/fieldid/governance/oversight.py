"""Oversight: audit log search and export, activity and the transparency report."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from fieldid.errors import InvalidRequest
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType, verify_chain
from fieldid.governance.roles import Permission, Role
from fieldid.storage.tables import AuditEvent, Challenge, Misidentification, Review, Search, User

if TYPE_CHECKING:
    from fieldid.service import FieldID


def _event_dict(e: AuditEvent) -> dict[str, Any]:
    return {"seq": e.seq, "id": e.id, "ts": e.ts, "event_type": e.event_type, "agency_id": e.agency_id,
            "actor_id": e.actor_id, "purpose": e.purpose, "case_number": e.case_number, "gallery_id": e.gallery_id,
            "details": json.loads(e.payload), "prev_hash": e.prev_hash, "hash": e.hash}


class OversightOps:
    def _audit_query(self: FieldID, actor: Actor, *, user: str | None, case_number: str | None,
                     purpose: str | None, event_type: str | None, since: datetime | None, until: datetime | None,
                     agency: str | None):  # type: ignore[no-untyped-def]
        q = select(AuditEvent)
        if actor.role is Role.SYSTEM_ADMIN:
            if agency:
                q = q.where(AuditEvent.agency_id == agency)
        else:
            q = q.where(AuditEvent.agency_id == actor.agency_id)
        if user:
            q = q.where(AuditEvent.actor_id == self._user_id(user))
        if case_number:
            q = q.where(AuditEvent.case_number == case_number)
        if purpose:
            q = q.where(AuditEvent.purpose == purpose)
        if event_type:
            q = q.where(AuditEvent.event_type == event_type)
        if since:
            q = q.where(AuditEvent.ts >= since)
        if until:
            q = q.where(AuditEvent.ts < until)
        return q

    def _user_id(self: FieldID, user: str) -> str:
        with self.store.read() as s:
            row = s.execute(select(User.id).where(User.username == user)).scalar_one_or_none()
        return row or user

    def search_audit(self: FieldID, actor: Actor, *, user: str | None = None, case_number: str | None = None,
                     purpose: str | None = None, event_type: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, agency: str | None = None, limit: int = 100,
                     offset: int = 0) -> dict[str, Any]:
        """Audit events of the actor's agency (system admins: any), newest first. The search is audited."""
        actor.require(Permission.AUDIT_READ)
        if not (1 <= limit <= 1000 and offset >= 0):
            raise InvalidRequest("1 ≤ limit ≤ 1000 and offset ≥ 0.")
        filters = {"user": user, "case_number": case_number, "purpose": purpose, "event_type": event_type,
                   "since": since, "until": until, "agency": agency}
        q = self._audit_query(actor, **filters)
        with self.store.write() as s:
            total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = s.execute(q.order_by(AuditEvent.seq.desc()).offset(offset).limit(limit)).scalars().all()
            events = [_event_dict(e) for e in rows]
            self._audit(s, Event(EventType.AUDIT_SEARCH, actor.agency_id, actor.user_id,
                                 details={"filters": {k: v for k, v in filters.items() if v}, "returned": len(events)}))
        return {"total": total, "events": events}

    def export_audit(self: FieldID, actor: Actor, **filters: Any) -> list[dict[str, Any]]:
        """Every matching event in chain order, with hashes (JSON lines when written). Audited."""
        actor.require(Permission.AUDIT_EXPORT)
        q = self._audit_query(actor, **{k: filters.get(k) for k in
                                        ("user", "case_number", "purpose", "event_type", "since", "until", "agency")})
        with self.store.write() as s:
            events = [_event_dict(e) for e in s.execute(q.order_by(AuditEvent.seq)).scalars()]
            self._audit(s, Event(EventType.AUDIT_EXPORT, actor.agency_id, actor.user_id,
                                 details={"filters": {k: str(v) for k, v in filters.items() if v},
                                          "exported": len(events)}))
        return events

    def chain_status(self: FieldID, actor: Actor) -> dict[str, Any]:
        actor.require(Permission.AUDIT_READ)
        with self.store.read() as s:
            report = verify_chain(s)
        return {"intact": report.intact, "events": report.events, "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "breaks": [{"seq": b.seq, "event_id": b.event_id, "problem": b.problem, "detail": b.detail}
                           for b in report.breaks[:100]]}

    def transparency_report(self: FieldID, actor: Actor, *, since: datetime, until: datetime,
                            agency: str | None = None) -> list[dict[str, Any]]:
        """Per agency: searches, candidates shown, confirmations, challenges and overturned results."""
        actor.require(Permission.REPORT_READ)
        if until <= since:
            raise InvalidRequest("The period must end after it starts.")
        agencies_filter = agency if actor.role is Role.SYSTEM_ADMIN else actor.agency_id
        with self.store.read() as s:
            sq = select(Search).where(Search.created_at >= since, Search.created_at < until, Search.training.is_(False))
            if agencies_filter:
                sq = sq.where(Search.agency_id == agencies_filter)
            rows: dict[str, Counter[str]] = {}
            for search in s.execute(sq).scalars():
                c = rows.setdefault(search.agency_id, Counter())
                c["searches"] += 1
                c[f"outcome_{search.outcome}"] += 1
                c["candidates_shown"] += len(search.result.get("candidates", []))
                if search.result.get("federated"):
                    c["federated_searches"] += 1
            for model, field, key in ((Challenge, Challenge.created_at, "challenges_filed"),
                                      (Misidentification, Misidentification.recorded_at, "overturned_results")):
                q = select(model.agency_id, func.count()).where(field >= since, field < until).group_by(model.agency_id)
                if agencies_filter:
                    q = q.where(model.agency_id == agencies_filter)
                for agency_id, n in s.execute(q).all():
                    rows.setdefault(agency_id, Counter())[key] += n
            q = select(Challenge.agency_id, Challenge.status, func.count()).where(
                Challenge.resolved_at >= since, Challenge.resolved_at < until).group_by(Challenge.agency_id,
                                                                                      Challenge.status)
            if agencies_filter:
                q = q.where(Challenge.agency_id == agencies_filter)
            for agency_id, status, n in s.execute(q).all():
                rows.setdefault(agency_id, Counter())[f"challenges_{status}"] += n
            confirmed = self._confirmations(s, since, until, agencies_filter)
            for agency_id, n in confirmed.items():
                rows.setdefault(agency_id, Counter())["confirmations"] += n
        keys = ("searches", "outcome_candidates", "outcome_no_candidate", "outcome_under_quality",
                "outcome_investigative_list", "candidates_shown", "federated_searches", "confirmations",
                "challenges_filed", "challenges_upheld", "challenges_dismissed", "overturned_results")
        return [{"agency_id": a, "since": since, "until": until, **{k: int(c.get(k, 0)) for k in keys}}
                for a, c in sorted(rows.items())]

    def _confirmations(self: FieldID, s, since: datetime, until: datetime,  # type: ignore[no-untyped-def]
                       agency: str | None) -> Counter[str]:
        from fieldid.governance.review import confirmation_state
        from fieldid.storage.tables import Evidence

        q = select(Review).where(Review.created_at >= since, Review.created_at < until)
        if agency:
            q = q.where(Review.agency_id == agency)
        pairs = {(r.search_id, r.identity_id, r.agency_id) for r in s.execute(q).scalars()}
        out: Counter[str] = Counter()
        for search_id, identity_id, agency_id in pairs:
            reviews = list(s.execute(select(Review).where(Review.search_id == search_id,
                                                          Review.identity_id == identity_id)).scalars())
            evidence = list(s.execute(select(Evidence).where(Evidence.search_id == search_id,
                                                             Evidence.identity_id == identity_id)).scalars())
            if confirmation_state(reviews, evidence) == "confirmed":
                out[agency_id] += 1
        return out
