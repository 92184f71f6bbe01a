"""Oversight: audit log search and export, chain checks, activity, the people behind user ids,
and the transparency report."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.errors import InvalidRequest
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import ChainReport, Event, EventType, verify_chain
from fieldid.governance.review import confirmation_state, reviews_of
from fieldid.governance.roles import Permission
from fieldid.storage.tables import AuditEvent, Challenge, Misidentification, Review, Search, User

#: Outcome counters of searches, in report order.
_OUTCOMES = ("outcome_candidates", "outcome_no_candidate", "outcome_under_quality",
             "outcome_investigative_list")


def _event_dict(e: AuditEvent) -> dict[str, Any]:
    return {"seq": e.seq, "id": e.id, "ts": e.ts, "event_type": e.event_type, "agency_id": e.agency_id,
            "actor_id": e.actor_id, "purpose": e.purpose, "case_number": e.case_number,
            "gallery_id": e.gallery_id, "details": json.loads(e.payload), "prev_hash": e.prev_hash,
            "hash": e.hash}


class OversightService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _audit_query(self, actor: Actor, *, user: str | None, case_number: str | None, purpose: str | None,
                     event_type: str | None, since: datetime | None, until: datetime | None,
                     agency: str | None) -> Select[tuple[AuditEvent]]:
        q = reach.scoped(select(AuditEvent), AuditEvent.agency_id, reach.agency_scope(actor, agency))
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

    def _user_id(self, user: str) -> str:
        with self.ctx.store.read() as s:
            row = s.execute(select(User.id).where(User.username == user)).scalar_one_or_none()
        return row or user

    def search_audit(self, actor: Actor, *, user: str | None = None, case_number: str | None = None,
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
        with self.ctx.store.write() as s:
            total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = s.execute(q.order_by(AuditEvent.seq.desc()).offset(offset).limit(limit)).scalars().all()
            events = [_event_dict(e) for e in rows]
            self.ctx.audit(s, Event(EventType.AUDIT_SEARCH, actor.agency_id, actor.user_id,
                                    details={"filters": {k: v for k, v in filters.items() if v},
                                             "returned": len(events)}))
        return {"total": total, "events": events}

    def export_audit(self, actor: Actor, **filters: Any) -> list[dict[str, Any]]:
        """Every matching event in chain order, with hashes (JSON lines when written). Audited."""
        actor.require(Permission.AUDIT_EXPORT)
        q = self._audit_query(actor, **{k: filters.get(k) for k in
                                        ("user", "case_number", "purpose", "event_type", "since", "until",
                                         "agency")})
        with self.ctx.store.write() as s:
            events = [_event_dict(e) for e in s.execute(q.order_by(AuditEvent.seq)).scalars()]
            self.ctx.audit(s, Event(EventType.AUDIT_EXPORT, actor.agency_id, actor.user_id,
                                    details={"filters": {k: str(v) for k, v in filters.items() if v},
                                             "exported": len(events)}))
        return events

    def chain_report(self) -> ChainReport:
        """Check the whole chain (local maintenance: ``fieldid audit verify``, ``fieldid doctor``)."""
        with self.ctx.store.read() as s:
            return verify_chain(s)

    def chain_status(self, actor: Actor) -> dict[str, Any]:
        actor.require(Permission.AUDIT_READ)
        report = self.chain_report()
        return {"intact": report.intact, "events": report.events, "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "breaks": [{"seq": b.seq, "event_id": b.event_id, "problem": b.problem, "detail": b.detail}
                           for b in report.breaks[:100]]}

    def transparency_report(self, actor: Actor, *, since: datetime, until: datetime,
                            agency: str | None = None) -> list[dict[str, Any]]:
        """Per agency: searches, candidates shown, confirmations, challenges and overturned results."""
        actor.require(Permission.REPORT_READ)
        if until <= since:
            raise InvalidRequest("The period must end after it starts.")
        scope = reach.agency_scope(actor, agency)
        with self.ctx.store.read() as s:
            sq = select(Search).where(Search.created_at >= since, Search.created_at < until,
                                      Search.training.is_(False))
            rows: dict[str, Counter[str]] = {}
            for search in s.execute(reach.scoped(sq, Search.agency_id, scope)).scalars():
                c = rows.setdefault(search.agency_id, Counter())
                c["searches"] += 1
                c[f"outcome_{search.outcome}"] += 1
                c["candidates_shown"] += len(search.result.get("candidates", []))
                if search.result.get("federated"):
                    c["federated_searches"] += 1
            for model, when, key in ((Challenge, Challenge.created_at, "challenges_filed"),
                                     (Misidentification, Misidentification.recorded_at,
                                      "overturned_results")):
                q = select(model.agency_id, func.count()).where(when >= since,
                                                                when < until).group_by(model.agency_id)
                for agency_id, n in s.execute(reach.scoped(q, model.agency_id, scope)).all():
                    rows.setdefault(agency_id, Counter())[key] += n
            q = select(Challenge.agency_id, Challenge.status, func.count()).where(
                Challenge.resolved_at >= since, Challenge.resolved_at < until).group_by(Challenge.agency_id,
                                                                                      Challenge.status)
            for agency_id, status, n in s.execute(reach.scoped(q, Challenge.agency_id, scope)).all():
                rows.setdefault(agency_id, Counter())[f"challenges_{status}"] += n
            for agency_id, n in _confirmations(s, since, until, scope).items():
                rows.setdefault(agency_id, Counter())["confirmations"] += n
        keys = ("searches", *_OUTCOMES, "candidates_shown", "federated_searches", "confirmations",
                "challenges_filed", "challenges_upheld", "challenges_dismissed", "overturned_results")
        return [{"agency_id": a, "since": since, "until": until, **{k: int(c.get(k, 0)) for k in keys}}
                for a, c in sorted(rows.items())]

    def activity(self, actor: Actor, *, since: datetime | None = None,
                 until: datetime | None = None) -> dict[str, Any]:
        """Per-agency and per-officer searches and reviews over a period (default: the last 30
        days, up to and including now); training searches are left out."""
        actor.require(Permission.REPORT_READ)
        until = until or self.ctx.now() + timedelta(seconds=1)
        since = since or until - timedelta(days=30)
        if until <= since:
            raise InvalidRequest("The period must end after it starts.")
        scope = reach.agency_scope(actor)
        per_user: dict[str, Counter[str]] = {}
        agencies: dict[str, Counter[str]] = {}
        with self.ctx.store.read() as s:
            q = select(Search).where(Search.created_at >= since, Search.created_at < until,
                                     Search.training.is_(False))
            r = select(Review).where(Review.created_at >= since, Review.created_at < until)
            for search in s.execute(reach.scoped(q, Search.agency_id, scope)).scalars():
                for c in (per_user.setdefault(search.user_id, Counter()),
                          agencies.setdefault(search.agency_id, Counter())):
                    c["searches"] += 1
                    c[f"outcome_{search.outcome}"] += 1
            for review in s.execute(reach.scoped(r, Review.agency_id, scope)).scalars():
                for c in (per_user.setdefault(review.reviewer_id, Counter()),
                          agencies.setdefault(review.agency_id, Counter())):
                    c["reviews"] += 1
                    c["confirms" if review.decision == "confirm" else "rejects"] += 1
            users = {u.id: u for u in s.execute(select(User).where(User.id.in_(list(per_user)))).scalars()}
        keys = ("searches", *_OUTCOMES, "reviews", "confirms", "rejects")
        officers = [{"user_id": uid, "username": users[uid].username if uid in users else uid,
                     "role": users[uid].role if uid in users else "", **{k: int(c.get(k, 0)) for k in keys}}
                    for uid, c in per_user.items()]
        officers.sort(key=lambda o: (-o["searches"], o["username"]))
        return {"since": since, "until": until, "officers": officers,
                "agencies": {a: {k: int(c.get(k, 0)) for k in keys} for a, c in sorted(agencies.items())}}

    def people(self, actor: Actor) -> list[dict[str, Any]]:
        """Who is who in the audit log: the users of the actor's agency (system admins: all), so
        that auditors read names instead of user ids. No keys, no permissions beyond the role."""
        actor.require(Permission.AUDIT_READ)
        with self.ctx.store.read() as s:
            q = reach.scoped(select(User).order_by(User.username), User.agency_id, reach.agency_scope(actor))
            return [{"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
                     "agency_id": u.agency_id, "active": u.active} for u in s.execute(q).scalars()]


def _confirmations(s: Session, since: datetime, until: datetime, scope: str | None) -> Counter[str]:
    q = reach.scoped(select(Review).where(Review.created_at >= since, Review.created_at < until),
                     Review.agency_id, scope)
    pairs = {(r.search_id, r.identity_id, r.agency_id) for r in s.execute(q).scalars()}
    out: Counter[str] = Counter()
    for search_id, identity_id, agency_id in pairs:
        if confirmation_state(*reviews_of(s, search_id, identity_id)) == "confirmed":
            out[agency_id] += 1
    return out
