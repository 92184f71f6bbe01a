"""Retention: purge what has outlived its time, and say so in the audit log.

* probe images: by class (no candidate: hours; candidates shown: days; confirmed: the case's
  need), never while a challenge holds them;
* searches and audit events: after ``retention_audit_days`` (never under six months), oldest
  first, as a contiguous prefix of the chain; a checkpoint keeps the rest verifiable;
* searches under challenge are kept with their challenge.

Probe images are never enrolled by a search: they live only in ``probe_images``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage.tables import AuditCheckpoint, AuditEvent, Challenge, ProbeImage, Search


@dataclass
class RetentionReport:
    ran_at: datetime
    probe_images_purged: int
    probe_images_held: int
    searches_purged: int
    audit_events_purged: int

    def as_dict(self) -> dict[str, object]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


class RetentionService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run_retention(self, actor: Actor) -> RetentionReport:
        actor.require(Permission.RETENTION_RUN)
        now = self.ctx.now()
        audit_cutoff = now - timedelta(days=max(183.0, self.ctx.settings.retention_audit_days))
        with self.ctx.store.write() as s:
            held = s.execute(select(func.count()).select_from(ProbeImage).where(
                ProbeImage.expires_at <= now, ProbeImage.held_by.is_not(None))).scalar_one()
            probes = s.execute(delete(ProbeImage).where(
                ProbeImage.expires_at <= now, ProbeImage.held_by.is_(None))).rowcount or 0
            challenged = select(Challenge.search_id)
            searches = s.execute(delete(Search).where(
                Search.created_at < audit_cutoff, Search.id.not_in(challenged))).rowcount or 0
            events = _purge_audit_prefix(s, audit_cutoff, now)
            report = RetentionReport(now, probes, held, searches, events)
            self.ctx.audit(s, Event(EventType.RETENTION_PURGE, actor.agency_id, actor.user_id,
                                    details=report.as_dict()))
        return report


def _purge_audit_prefix(s: Session, cutoff: datetime, now: datetime) -> int:
    # The purge takes the longest run of old events from the start of the chain, so the
    # remaining events still form one unbroken chain from the checkpoint.
    first_young = s.execute(select(func.min(AuditEvent.seq)).where(AuditEvent.ts >= cutoff)).scalar_one()
    last_old = s.execute(
        select(func.max(AuditEvent.seq)).where(AuditEvent.ts < cutoff,
                                               *( [AuditEvent.seq < first_young] if first_young else []))
    ).scalar_one()
    if last_old is None:
        return 0
    boundary = s.execute(select(AuditEvent).where(AuditEvent.seq == last_old)).scalar_one()
    count = s.execute(select(func.count()).select_from(AuditEvent)
                      .where(AuditEvent.seq <= last_old)).scalar_one()
    s.add(AuditCheckpoint(seq=boundary.seq, hash=boundary.hash, purged_events=int(count), created_at=now))
    s.execute(delete(AuditEvent).where(AuditEvent.seq <= last_old))
    return int(count)
