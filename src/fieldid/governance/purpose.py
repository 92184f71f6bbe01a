"""Purpose binding: recorded authorisations (warrants, orders) that searches cite."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.errors import AuthorizationRequired, Conflict, InvalidRequest
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.inputs import SearchContext
from fieldid.storage.tables import Agency, Authorization


def check_authorization(s: Session, actor: Actor, why: SearchContext, now: datetime) -> Authorization | None:
    """Where the agency requires it, the search must cite a recorded, unexpired authorisation
    (for this case number when the authorisation names one)."""
    agency = s.get(Agency, actor.agency_id)
    if agency is None or not agency.requires_authorization or actor.training_mode:
        return None
    ref = (why.authorization_ref or "").strip()
    if not ref:
        raise AuthorizationRequired(
            "This agency requires an authorisation reference (e.g. a warrant) on every search.")
    row = s.execute(select(Authorization).where(reach.own_rows(Authorization.agency_id, actor),
                                                Authorization.reference == ref)).scalar_one_or_none()
    if row is None:
        raise AuthorizationRequired(f"Authorisation {ref!r} is not on record.")
    if row.expires_at <= now:
        raise AuthorizationRequired(f"Authorisation {ref!r} expired on {row.expires_at:%Y-%m-%d %H:%M} UTC.")
    if row.case_number and row.case_number != why.case_number:
        raise AuthorizationRequired(
            f"Authorisation {ref!r} covers case {row.case_number}, not {why.case_number}.")
    return row


class AuthorizationService:
    """Recording the authorisations an agency's searches cite."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def record_authorization(self, actor: Actor, reference: str, *, expires_at: datetime,
                             case_number: str | None = None) -> dict[str, object]:
        actor.require(Permission.AUTHORIZATION_ISSUE)
        now = self.ctx.now()
        if not reference.strip() or expires_at <= now:
            raise InvalidRequest("An authorisation needs a reference and a future expiry.")
        with self.ctx.store.write() as s:
            taken = s.execute(select(Authorization.id).where(
                reach.own_rows(Authorization.agency_id, actor),
                Authorization.reference == reference.strip()[:200])).first()
            if taken is not None:
                raise Conflict(f"Authorisation {reference.strip()!r} is already on record; a reference names "
                               "one authorisation.", field="reference")
            row = Authorization(id=str(uuid.uuid4()), agency_id=actor.agency_id,
                                reference=reference.strip()[:200],
                                case_number=(case_number or None), expires_at=expires_at,
                                issued_by=actor.user_id,
                                created_at=now)
            s.add(row)
            self.ctx.audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id, case_number=case_number,
                                    details={"action": "authorization.record", "reference": row.reference,
                                             "expires_at": expires_at.isoformat()}))
            return {"id": row.id, "reference": row.reference, "case_number": row.case_number,
                    "expires_at": row.expires_at}
