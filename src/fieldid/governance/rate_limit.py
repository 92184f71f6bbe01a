"""The per-user search rate limit, with an alert on unusual query volume.

:class:`SearchRateLimit` is what the search service holds; :class:`RateLimiter` keeps the
windows in this process (the embedded default runs one server process). Several server
processes share one limit by putting another implementation behind the same two-line interface
(e.g. Redis-backed windows).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fieldid.errors import RateLimited
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType


@dataclass
class RateDecision:
    alert: bool  # first time this hour the user passes the unusual-volume level
    last_minute: int
    last_hour: int


class SearchRateLimit(Protocol):
    def hit(self, user_id: str, now: datetime) -> RateDecision:
        """Count one search by ``user_id`` at ``now``; raise RateLimited over the limit."""
        ...


class RateLimiter:
    """Per-user sliding windows in this process: a hard limit per minute, an alert level per hour."""

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
