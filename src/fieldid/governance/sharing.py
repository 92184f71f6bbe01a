"""Sharing agreements between agencies: which gallery, with whom, for which purposes, until when.

What an agreement lets the grantee reach is decided in :mod:`fieldid.governance.reach`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from fieldid.context import Context
from fieldid.errors import AgencyNotFound, GalleryNotFound, InvalidRequest, NotFound
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage import repo
from fieldid.storage.tables import Agency, SharingAgreement


class SharingService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def share_gallery(self, actor: Actor, gallery_ref: str, grantee_agency: str, *, purposes: list[str],
                      expires_at: datetime, reference: str) -> dict[str, object]:
        actor.require(Permission.SHARING_MANAGE)
        now = self.ctx.now()
        codes = self.ctx.settings.purpose_codes
        if not purposes or not set(purposes) <= set(codes):
            raise InvalidRequest("Name one or more known purpose codes the agreement covers.", allowed=codes)
        if expires_at <= now:
            raise InvalidRequest("The agreement must expire in the future.")
        if not reference.strip():
            raise InvalidRequest("Cite the written agreement (reference).")
        with self.ctx.store.write() as s:
            gallery = repo.gallery_by_ref(s, actor.agency_id, gallery_ref)
            if gallery is None:
                raise GalleryNotFound(f"No gallery {gallery_ref!r} in reach.")
            if not reach.shareable(gallery):
                raise InvalidRequest("Training galleries cannot be shared.")
            if not reach.other_agency(actor, grantee_agency) or s.get(Agency, grantee_agency) is None:
                raise AgencyNotFound(f"No other agency {grantee_agency!r}.")
            row = SharingAgreement(id=str(uuid.uuid4()), owner_agency_id=actor.agency_id,
                                   grantee_agency_id=grantee_agency, gallery_id=gallery.id,
                                   purposes=sorted(set(purposes)), reference=reference[:200],
                                   expires_at=expires_at, created_by=actor.user_id, created_at=now)
            s.add(row)
            self.ctx.audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id, gallery_id=gallery.id,
                                    details={"action": "sharing.create", "agreement_id": row.id,
                                             "grantee": grantee_agency, "purposes": row.purposes,
                                             "expires_at": expires_at.isoformat(),
                                             "reference": row.reference}))
            return agreement_dict(row)

    def revoke_sharing(self, actor: Actor, agreement_id: str) -> None:
        actor.require(Permission.SHARING_MANAGE)
        with self.ctx.store.write() as s:
            row = s.get(SharingAgreement, agreement_id)
            if row is None or not reach.agreement_in_reach(actor, row):
                raise NotFound("No such agreement in reach.")
            row.revoked_at = self.ctx.now()
            self.ctx.audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id,
                                    gallery_id=row.gallery_id,
                                    details={"action": "sharing.revoke", "agreement_id": row.id}))

    def list_sharing(self, actor: Actor) -> list[dict[str, object]]:
        """Agreements the actor's agency granted or received."""
        actor.require(Permission.GALLERY_READ)
        with self.ctx.store.read() as s:
            rows = s.execute(select(SharingAgreement).where(reach.agreements_of(actor))
                             .order_by(SharingAgreement.created_at)).scalars()
            return [agreement_dict(r) for r in rows]


def agreement_dict(r: SharingAgreement) -> dict[str, object]:
    return {"id": r.id, "owner_agency_id": r.owner_agency_id, "grantee_agency_id": r.grantee_agency_id,
            "gallery_id": r.gallery_id, "purposes": r.purposes, "reference": r.reference,
            "expires_at": r.expires_at, "revoked_at": r.revoked_at, "created_at": r.created_at}
