"""Challenges (redress): a person or their advocate contests a search result.

Filing freezes the retention of the search's probe image, puts the challenge in the auditors'
queue, and ends as *upheld* (the result was wrong: recorded in the misidentification
register, which feeds the published error rates) or *dismissed* with reasons.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from fieldid.errors import ChallengeNotFound, Conflict, InvalidRequest, SearchNotFound
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage.tables import Challenge, Misidentification, ProbeImage, Search

if TYPE_CHECKING:
    from fieldid.service import FieldID


class RedressOps:
    def file_challenge(self: FieldID, actor: Actor, search_id: str, *, on_behalf_of: str, contact: str,
                       grounds: str) -> dict[str, object]:
        actor.require(Permission.CHALLENGE_FILE)
        if on_behalf_of not in ("subject", "advocate"):
            raise InvalidRequest("on_behalf_of must be 'subject' or 'advocate'.")
        if not grounds.strip() or not contact.strip():
            raise InvalidRequest("A challenge needs grounds and a contact for the reply.")
        now = self._now()
        with self.store.write() as s:
            search = s.get(Search, search_id)
            if search is None or search.agency_id != actor.agency_id:
                raise SearchNotFound(f"No search receipt {search_id!r} in reach.")
            row = Challenge(id=str(uuid.uuid4()), search_id=search_id, agency_id=actor.agency_id,
                            filed_by=actor.user_id, on_behalf_of=on_behalf_of, contact=contact[:300],
                            grounds=grounds[:8000], status="open", created_at=now)
            s.add(row)
            s.flush()
            probe = s.get(ProbeImage, search_id)
            if probe is not None and probe.held_by is None:
                probe.held_by = row.id
            self._audit(s, Event(EventType.CHALLENGE_FILE, actor.agency_id, actor.user_id, search.purpose,
                                 search.case_number, None,
                                 {"challenge_id": row.id, "search_id": search_id, "on_behalf_of": on_behalf_of,
                                  "retention_frozen": probe is not None}))
            return _challenge_dict(row)

    def list_challenges(self: FieldID, actor: Actor, status: str | None = "open") -> list[dict[str, object]]:
        actor.require(Permission.CHALLENGE_RESOLVE)
        with self.store.read() as s:
            q = select(Challenge).where(Challenge.agency_id == actor.agency_id).order_by(Challenge.created_at)
            if status:
                q = q.where(Challenge.status == status)
            return [_challenge_dict(c) for c in s.execute(q).scalars()]

    def get_challenge(self: FieldID, actor: Actor, challenge_id: str) -> dict[str, object]:
        with self.store.read() as s:
            row = s.get(Challenge, challenge_id)
            if row is None or row.agency_id != actor.agency_id or not (
                actor.can(Permission.CHALLENGE_RESOLVE) or row.filed_by == actor.user_id
            ):
                raise ChallengeNotFound(f"No challenge {challenge_id!r} in reach.")
            return _challenge_dict(row)

    def resolve_challenge(self: FieldID, actor: Actor, challenge_id: str, *, outcome: str, reasons: str,
                          identity_id: str | None = None) -> dict[str, object]:
        actor.require(Permission.CHALLENGE_RESOLVE)
        if outcome not in ("upheld", "dismissed"):
            raise InvalidRequest("outcome must be 'upheld' or 'dismissed'.")
        if not reasons.strip():
            raise InvalidRequest("A resolution needs its reasons.")
        now = self._now()
        with self.store.write() as s:
            row = s.get(Challenge, challenge_id)
            if row is None or row.agency_id != actor.agency_id:
                raise ChallengeNotFound(f"No challenge {challenge_id!r} in reach.")
            if row.status != "open":
                raise Conflict("The challenge is already resolved.")
            search = s.get(Search, row.search_id)
            assert search is not None
            shown = {c["identity_id"] for c in search.result.get("candidates", [])}
            if identity_id is not None and identity_id not in shown:
                raise InvalidRequest("The misidentified candidate must be one the search showed.")
            row.status, row.resolution, row.resolved_by, row.resolved_at = outcome, reasons[:8000], actor.user_id, now
            if outcome == "upheld":
                s.add(Misidentification(id=str(uuid.uuid4()), challenge_id=row.id, search_id=row.search_id,
                                        identity_id=identity_id, agency_id=row.agency_id, details=reasons[:8000],
                                        recorded_at=now))
            probe = s.get(ProbeImage, row.search_id)
            if probe is not None and probe.held_by == row.id:
                others = s.execute(select(Challenge.id).where(Challenge.search_id == row.search_id,
                                                              Challenge.status == "open",
                                                              Challenge.id != row.id)).scalars().first()
                probe.held_by = others  # still frozen while another challenge is open
            self._audit(s, Event(EventType.CHALLENGE_RESOLVE, actor.agency_id, actor.user_id, search.purpose,
                                 search.case_number, None,
                                 {"challenge_id": row.id, "search_id": row.search_id, "outcome": outcome,
                                  "identity_id": identity_id, "reasons": reasons[:1000]}))
            return _challenge_dict(row)


def _challenge_dict(c: Challenge) -> dict[str, object]:
    return {"id": c.id, "search_id": c.search_id, "agency_id": c.agency_id, "filed_by": c.filed_by,
            "on_behalf_of": c.on_behalf_of, "contact": c.contact, "grounds": c.grounds, "status": c.status,
            "resolution": c.resolution, "resolved_by": c.resolved_by, "resolved_at": c.resolved_at,
            "created_at": c.created_at}
