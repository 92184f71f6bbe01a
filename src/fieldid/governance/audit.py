"""Typed audit events in a hash-chained, append-only log.

Each event's hash is ``sha256(prev_hash ‖ canonical JSON of the event including its sequence
number)``, so editing, deleting, inserting or reordering any row breaks the chain at that row.
Events are appended in the same database transaction as the action they record: an action
without its audit event cannot commit. The chain head row is locked while appending so that
concurrent writers (several server processes on PostgreSQL) keep one order.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.storage.tables import AuditCheckpoint, AuditEvent, AuditHead

GENESIS = "0" * 64


class EventType(StrEnum):
    SEARCH_IDENTIFY = "search.identify"
    SEARCH_VERIFY = "search.verify"
    SEARCH_REFUSED = "search.refused"
    ENROLL = "identity.enroll"
    SAMPLE_ADD = "identity.sample_add"
    IDENTITY_DELETE = "identity.delete"
    IDENTITY_VIEW = "identity.view"
    GALLERY_CREATE = "gallery.create"
    GALLERY_UPDATE = "gallery.update"
    RECORD_ACCESS = "record.access"
    REVIEW_DECISION = "review.decision"
    REVIEW_EVIDENCE = "review.evidence"
    CHALLENGE_FILE = "challenge.file"
    CHALLENGE_RESOLVE = "challenge.resolve"
    AUDIT_EXPORT = "audit.export"
    AUDIT_SEARCH = "audit.search"
    ADMIN = "admin"
    AUTH_FAILURE = "auth.failure"
    RETENTION_PURGE = "retention.purge"
    RATE_ALERT = "alert.query_volume"


@dataclass(frozen=True)
class Event:
    """What the service emits; the log adds id, sequence, time and chain hashes."""

    type: EventType
    agency_id: str
    actor_id: str
    purpose: str | None = None
    case_number: str | None = None
    gallery_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(prev_hash: str, row: AuditEvent) -> str:
    body = {
        "seq": row.seq,
        "id": row.id,
        "ts": row.ts.isoformat(),
        "event_type": row.event_type,
        "agency_id": row.agency_id,
        "actor_id": row.actor_id,
        "purpose": row.purpose,
        "case_number": row.case_number,
        "gallery_id": row.gallery_id,
        "payload": row.payload,
    }
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def ensure_chain_head(session: Session) -> None:
    """Create the chain-head row once (at migration), so appenders only ever lock it."""
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()


def append_event(session: Session, event: Event, now: datetime) -> AuditEvent:
    """Append ``event`` in the caller's transaction and return the stored row."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        ensure_chain_head(session)
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    row = AuditEvent(
        seq=head.seq + 1,
        id=str(uuid.uuid4()),
        ts=now,
        event_type=str(event.type),
        agency_id=event.agency_id,
        actor_id=event.actor_id,
        purpose=event.purpose,
        case_number=event.case_number,
        gallery_id=event.gallery_id,
        payload=canonical_json(event.details),
        prev_hash=head.hash,
        hash="",
    )
    row.hash = event_hash(head.hash, row)
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    session.flush()
    return row


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: str
    problem: str  # "edited" | "deleted_or_inserted" | "reordered" | "head_mismatch"
    detail: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    head_seq: int
    head_hash: str
    breaks: tuple[ChainBreak, ...]

    @property
    def intact(self) -> bool:
        return not self.breaks


def verify_rows(rows: Iterable[AuditEvent], head: AuditHead | None = None, *, start_seq: int = 0,
                start_hash: str = GENESIS) -> ChainReport:
    """Check a chain in sequence order; report every row where it breaks, and how.

    ``start_seq``/``start_hash`` continue from a retention checkpoint instead of the genesis.
    """
    prev_hash, prev_seq, count = start_hash, start_seq, 0
    breaks: list[ChainBreak] = []
    last_hash = start_hash
    for row in rows:
        count += 1
        if row.seq != prev_seq + 1:
            breaks.append(ChainBreak(row.seq, row.id, "deleted_or_inserted",
                                     f"sequence jumps from {prev_seq} to {row.seq}"))
        if row.prev_hash != prev_hash:
            problem = "reordered" if row.seq == prev_seq + 1 else "deleted_or_inserted"
            breaks.append(ChainBreak(row.seq, row.id, problem, "prev_hash does not match the previous event"))
        if event_hash(row.prev_hash, row) != row.hash:
            breaks.append(ChainBreak(row.seq, row.id, "edited", "content does not match its hash"))
        prev_hash, prev_seq, last_hash = row.hash, row.seq, row.hash
    if head is not None and (head.seq != prev_seq or head.hash != last_hash):
        breaks.append(ChainBreak(head.seq, "", "head_mismatch",
                                 f"chain head says seq {head.seq}, log ends at {prev_seq}: events were "
                                 "removed from or added to the end"))
    return ChainReport(events=count, head_seq=prev_seq, head_hash=last_hash, breaks=tuple(breaks))


def iter_chain(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> ChainReport:
    head = session.get(AuditHead, 1)
    checkpoint = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar_one_or_none()
    if checkpoint is None:
        return verify_rows(iter_chain(session), head)
    return verify_rows(iter_chain(session), head, start_seq=checkpoint.seq, start_hash=checkpoint.hash)
