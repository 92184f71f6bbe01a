"""What every service needs from the house: the settings, the store, the clock, and the audit log.

A service is built from a :class:`Context` (plus the few parts of its own it uses: the vector
index, the extractors, the record broker …) and never reaches back into the front
(:class:`fieldid.service.FieldID`). Tests build one over an in-memory store and a hand-moved
clock, without loading a model::

    ctx = Context(Settings(data_dir=tmp_path), SqlStore("sqlite://"), ManualClock())
    retention = RetentionService(ctx)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from fieldid.clock import Clock, SystemClock
from fieldid.config import Settings
from fieldid.governance.audit import Event, append_event
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import AuditEvent


@dataclass
class Context:
    """One per front, shared by all its services: a service reads ``ctx.settings`` when it acts,
    so settings swapped on a running front (``fid.settings = …``) reach every service at once."""

    settings: Settings
    store: SqlStore
    clock: Clock = field(default_factory=SystemClock)

    def now(self) -> datetime:
        return self.clock.now()

    def audit(self, session: Session, event: Event) -> AuditEvent:
        """Append ``event`` to the audit log in the caller's transaction (so the action and
        its record commit together or not at all). Every audit event goes through here."""
        return append_event(session, event, self.now())
