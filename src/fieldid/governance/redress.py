"""Challenges (redress): a person or their advocate contests a search result.

Filing freezes the retention of the search's probe image, puts the challenge in the auditors'
queue, and ends as *upheld* (the result was wrong: recorded in the misidentification
register, which feeds the published error rates) or *dismissed* with reasons.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from fieldid.context import Context
from fieldid.errors import ChallengeNotFound, Conflict, InvalidRequest, SearchNotFound
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage.tables import Challenge, Misidentification, ProbeImage, Search


class RedressService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def file_challenge(self, actor: Actor, search_id: str, *, on_behalf_of: str, contact: str,
                       grounds: str) -> dict[str, object]:
        actor.require(Permission.CHALLENGE_FILE)
        if on_behalf_of not in ("subject", "advocate"):
            raise InvalidRequest("on_behalf_of must be 'subject' or 'advocate'.")
        if not grounds.strip() or not contact.strip():
            raise InvalidRequest("A challenge needs grounds and a contact for the reply.")
        now = self.ctx.now()
        with self.ctx.store.write() as s:
            search = s.get(Search, search_id)
            if not reach.search_in_reach(actor, search):
                raise SearchNotFound(f"No search receipt {search_id!r} in reach.")
            assert search is not None
            row = Challenge(id=str(uuid.uuid4()), search_id=search_id, agency_id=actor.agency_id,
                            filed_by=actor.user_id, on_behalf_of=on_behalf_of, contact=contact[:300],
                            grounds=grounds[:8000], status="open", created_at=now)
            s.add(row)
            s.flush()
            probe = s.get(ProbeImage, search_id)
            if probe is not None and probe.held_by is None:
                probe.held_by = row.id
            self.ctx.audit(s, Event(EventType.CHALLENGE_FILE, actor.agency_id, actor.user_id, search.purpose,
                                    search.case_number, None,
                                    {"challenge_id": row.id, "search_id": search_id,
                                     "on_behalf_of": on_behalf_of,
                                     "retention_frozen": probe is not None}))
            return challenge_dict(row)

    def list_challenges(self, actor: Actor, status: str | None = "open") -> list[dict[str, object]]:
        actor.require(Permission.CHALLENGE_RESOLVE)
        with self.ctx.store.read() as s:
            q = select(Challenge).where(reach.own_rows(Challenge.agency_id,
                                                       actor)).order_by(Challenge.created_at)
            if status:
                q = q.where(Challenge.status == status)
            return [challenge_dict(c) for c in s.execute(q).scalars()]

    def get_challenge(self, actor: Actor, challenge_id: str) -> dict[str, object]:
        with self.ctx.store.read() as s:
            row = s.get(Challenge, challenge_id)
            if not reach.challenge_in_reach(actor, row, reading=True):
                raise ChallengeNotFound(f"No challenge {challenge_id!r} in reach.")
            assert row is not None
            return challenge_dict(row)

    def resolve_challenge(self, actor: Actor, challenge_id: str, *, outcome: str, reasons: str,
                          identity_id: str | None = None) -> dict[str, object]:
        actor.require(Permission.CHALLENGE_RESOLVE)
        if outcome not in ("upheld", "dismissed"):
            raise InvalidRequest("outcome must be 'upheld' or 'dismissed'.")
        if not reasons.strip():
            raise InvalidRequest("A resolution needs its reasons.")
        now = self.ctx.now()
        with self.ctx.store.write() as s:
            row = s.get(Challenge, challenge_id)
            if not reach.challenge_in_reach(actor, row):
                raise ChallengeNotFound(f"No challenge {challenge_id!r} in reach.")
            assert row is not None
            if row.status != "open":
                raise Conflict("The challenge is already resolved.")
            search = s.get(Search, row.search_id)
            assert search is not None
            shown = {c["identity_id"] for c in search.result.get("candidates", [])}
            if identity_id is not None and identity_id not in shown:
                raise InvalidRequest("The misidentified candidate must be one the search showed.")
            row.status, row.resolution = outcome, reasons[:8000]
            row.resolved_by, row.resolved_at = actor.user_id, now
            if outcome == "upheld":
                s.add(Misidentification(id=str(uuid.uuid4()), challenge_id=row.id, search_id=row.search_id,
                                        identity_id=identity_id, agency_id=row.agency_id,
                                        details=reasons[:8000],
                                        recorded_at=now))
            probe = s.get(ProbeImage, row.search_id)
            if probe is not None and probe.held_by == row.id:
                others = s.execute(select(Challenge.id).where(Challenge.search_id == row.search_id,
                                                              Challenge.status == "open",
                                                              Challenge.id != row.id)).scalars().first()
                probe.held_by = others  # still frozen while another challenge is open
            self.ctx.audit(s, Event(EventType.CHALLENGE_RESOLVE, actor.agency_id, actor.user_id,
                                    search.purpose,
                                    search.case_number, None,
                                    {"challenge_id": row.id, "search_id": row.search_id, "outcome": outcome,
                                     "identity_id": identity_id, "reasons": reasons[:1000]}))
            return challenge_dict(row)

    def misidentifications(self, actor: Actor, limit: int = 500) -> list[dict[str, Any]]:
        """The misidentification register (upheld challenges) of the actor's agency (system
        admins: every agency), newest first, with the case each search was made for."""
        actor.require(Permission.REPORT_READ)
        with self.ctx.store.read() as s:
            newest = select(Misidentification).order_by(Misidentification.recorded_at.desc()).limit(limit)
            q = reach.scoped(newest, Misidentification.agency_id, reach.agency_scope(actor))
            out = []
            for m in s.execute(q).scalars():
                search = s.get(Search, m.search_id)
                out.append({"id": m.id, "challenge_id": m.challenge_id, "search_id": m.search_id,
                            "identity_id": m.identity_id, "agency_id": m.agency_id, "details": m.details,
                            "recorded_at": m.recorded_at,
                            "case_number": search.case_number if search else None,
                            "purpose": search.purpose if search else None})
            return out


def challenge_dict(c: Challenge) -> dict[str, object]:
    return {"id": c.id, "search_id": c.search_id, "agency_id": c.agency_id, "filed_by": c.filed_by,
            "on_behalf_of": c.on_behalf_of, "contact": c.contact, "grounds": c.grounds, "status": c.status,
            "resolution": c.resolution, "resolved_by": c.resolved_by, "resolved_at": c.resolved_at,
            "created_at": c.created_at}
