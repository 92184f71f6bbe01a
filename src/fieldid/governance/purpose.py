"""Purpose binding: recorded authorisations (warrants, orders) that searches cite, and the
per-user rate limit with an alert on unusual query volume."""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.errors import AuthorizationRequired, Conflict, InvalidRequest, RateLimited
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage.tables import Agency, Authorization

if TYPE_CHECKING:
    from fieldid.service import FieldID, SearchContext


def check_authorization(s: Session, actor: Actor, ctx: SearchContext, now: datetime) -> Authorization | None:
    """Where the agency requires it, the search must cite a recorded, unexpired authorisation
    (for this case number when the authorisation names one)."""
    agency = s.get(Agency, actor.agency_id)
    if agency is None or not agency.requires_authorization or actor.training_mode:
        return None
    ref = (ctx.authorization_ref or "").strip()
    if not ref:
        raise AuthorizationRequired("This agency requires an authorisation reference (e.g. a warrant) on every search.")
    row = s.execute(select(Authorization).where(Authorization.agency_id == actor.agency_id,
                                                Authorization.reference == ref)).scalar_one_or_none()
    if row is None:
        raise AuthorizationRequired(f"Authorisation {ref!r} is not on record.")
    if row.expires_at <= now:
        raise AuthorizationRequired(f"Authorisation {ref!r} expired on {row.expires_at:%Y-%m-%d %H:%M} UTC.")
    if row.case_number and row.case_number != ctx.case_number:
        raise AuthorizationRequired(f"Authorisation {ref!r} covers case {row.case_number}, not {ctx.case_number}.")
    return row


class AuthorizationOps:
    def record_authorization(self: FieldID, actor: Actor, reference: str, *, expires_at: datetime,
                             case_number: str | None = None) -> dict[str, object]:
        actor.require(Permission.AUTHORIZATION_ISSUE)
        now = self._now()
        if not reference.strip() or expires_at <= now:
            raise InvalidRequest("An authorisation needs a reference and a future expiry.")
        with self.store.write() as s:
            taken = s.execute(select(Authorization.id).where(
                Authorization.agency_id == actor.agency_id,
                Authorization.reference == reference.strip()[:200])).first()
            if taken is not None:
                raise Conflict(f"Authorisation {reference.strip()!r} is already on record; a reference names "
                               "one authorisation.", field="reference")
            row = Authorization(id=str(uuid.uuid4()), agency_id=actor.agency_id, reference=reference.strip()[:200],
                                case_number=(case_number or None), expires_at=expires_at, issued_by=actor.user_id,
                                created_at=now)
            s.add(row)
            self._audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id, case_number=case_number,
                                 details={"action": "authorization.record", "reference": row.reference,
                                          "expires_at": expires_at.isoformat()}))
            return {"id": row.id, "reference": row.reference, "case_number": row.case_number,
                    "expires_at": row.expires_at}


@dataclass
class RateDecision:
    alert: bool  # first time this hour the user passes the unusual-volume level
    last_minute: int
    last_hour: int


class RateLimiter:
    """Per-user sliding windows: a hard limit per minute, an alert level per hour.

    In-process (the embedded default runs one server process); a multi-process deployment
    puts it behind the load balancer's limits as well.
    """

    def __init__(self, per_minute: int, alert_per_hour: int) -> None:
        self.per_minute, self.alert_per_hour = per_minute, alert_per_hour
        self._events: dict[str, deque[datetime]] = {}
        self._alerted: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def hit(self, user_id: str, now: datetime) -> RateDecision:
        with self._lock:
            q = self._events.setdefault(user_id, deque())
            while q and q[0] <= now - timedelta(hours=1):
                q.popleft()
            minute = sum(1 for t in q if t > now - timedelta(minutes=1))
            if minute >= self.per_minute:
                raise RateLimited(f"More than {self.per_minute} searches in a minute: slow down.",
                                  limit_per_minute=self.per_minute)
            q.append(now)
            alert = False
            if len(q) > self.alert_per_hour:
                last = self._alerted.get(user_id)
                if last is None or last <= now - timedelta(hours=1):
                    self._alerted[user_id] = now
                    alert = True
            return RateDecision(alert, minute + 1, len(q))


def alert_event(actor: Actor, decision: RateDecision, limit: int) -> Event:
    return Event(EventType.RATE_ALERT, actor.agency_id, actor.user_id,
                 details={"searches_last_hour": decision.last_hour, "alert_level": limit,
                          "note": "unusual query volume for one user: review by a supervisor or auditor"})
