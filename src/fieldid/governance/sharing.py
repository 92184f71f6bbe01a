"""Sharing agreements between agencies and the galleries an actor may search.

An agency searches its own galleries, and a gallery of another agency only under an active
agreement (not revoked, not expired) that names the search's purpose. Anything else of
another agency is reported as not found.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.errors import AgencyNotFound, GalleryNotFound, InvalidRequest, NotFound, TrainingModeViolation
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.storage import repo
from fieldid.storage.tables import Agency, Gallery, SharingAgreement

if TYPE_CHECKING:
    from fieldid.service import FieldID


def active_agreements(s: Session, grantee: str, now: datetime) -> list[SharingAgreement]:
    return list(s.execute(
        select(SharingAgreement).where(
            SharingAgreement.grantee_agency_id == grantee,
            SharingAgreement.revoked_at.is_(None),
            SharingAgreement.expires_at > now,
        )
    ).scalars())


def searchable_gallery(s: Session, actor: Actor, ref: str, purpose: str | None, now: datetime) -> tuple[Gallery, bool]:
    """(gallery, shared) for a search by ``actor``; own galleries first, then shared ones.

    A shared gallery is named by its id or as ``<owner agency>/<name>``.
    """
    own = repo.gallery_by_ref(s, actor.agency_id, ref)
    if own is not None:
        if actor.training_mode and own.kind != "training":
            raise TrainingModeViolation("In training mode only the training sandbox can be reached.")
        if not actor.training_mode and own.kind == "training" and purpose is not None:
            raise TrainingModeViolation("Switch to training mode to search the training sandbox.")
        return own, False
    if actor.training_mode:
        raise GalleryNotFound(f"No gallery {ref!r} in reach.")
    candidate = s.get(Gallery, ref)
    if candidate is None and "/" in ref:
        owner, name = ref.split("/", 1)
        candidate = repo.gallery_by_ref(s, owner, name)
    if candidate is not None:
        for agreement in active_agreements(s, actor.agency_id, now):
            if agreement.gallery_id == candidate.id and (purpose is None or purpose in agreement.purposes):
                return candidate, True
    raise GalleryNotFound(f"No gallery {ref!r} in reach.")


def reachable_galleries(s: Session, actor: Actor, purpose: str, now: datetime) -> list[tuple[Gallery, bool]]:
    """Every operational gallery the actor may search for ``purpose`` (federated query)."""
    out = [(g, False) for g in repo.galleries_of(s, actor.agency_id) if g.kind != "training"]
    seen = {g.id for g, _ in out}
    for agreement in active_agreements(s, actor.agency_id, now):
        if purpose in agreement.purposes and agreement.gallery_id not in seen:
            g = s.get(Gallery, agreement.gallery_id)
            if g is not None:
                out.append((g, True))
                seen.add(g.id)
    return out


class SharingOps:
    def share_gallery(self: FieldID, actor: Actor, gallery_ref: str, grantee_agency: str, *, purposes: list[str],
                      expires_at: datetime, reference: str) -> dict[str, object]:
        actor.require(Permission.SHARING_MANAGE)
        now = self._now()
        if not purposes or not set(purposes) <= set(self.settings.purpose_codes):
            raise InvalidRequest("Name one or more known purpose codes the agreement covers.",
                                 allowed=self.settings.purpose_codes)
        if expires_at <= now:
            raise InvalidRequest("The agreement must expire in the future.")
        if not reference.strip():
            raise InvalidRequest("Cite the written agreement (reference).")
        with self.store.write() as s:
            gallery = repo.gallery_by_ref(s, actor.agency_id, gallery_ref)
            if gallery is None:
                raise GalleryNotFound(f"No gallery {gallery_ref!r} in reach.")
            if gallery.kind == "training":
                raise InvalidRequest("Training galleries cannot be shared.")
            if grantee_agency == actor.agency_id or s.get(Agency, grantee_agency) is None:
                raise AgencyNotFound(f"No other agency {grantee_agency!r}.")
            row = SharingAgreement(id=str(uuid.uuid4()), owner_agency_id=actor.agency_id,
                                   grantee_agency_id=grantee_agency, gallery_id=gallery.id,
                                   purposes=sorted(set(purposes)), reference=reference[:200], expires_at=expires_at,
                                   created_by=actor.user_id, created_at=now)
            s.add(row)
            self._audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id, gallery_id=gallery.id,
                                 details={"action": "sharing.create", "agreement_id": row.id,
                                          "grantee": grantee_agency, "purposes": row.purposes,
                                          "expires_at": expires_at.isoformat(), "reference": row.reference}))
            return _agreement_dict(row)

    def revoke_sharing(self: FieldID, actor: Actor, agreement_id: str) -> None:
        actor.require(Permission.SHARING_MANAGE)
        with self.store.write() as s:
            row = s.get(SharingAgreement, agreement_id)
            if row is None or row.owner_agency_id != actor.agency_id:
                raise NotFound("No such agreement in reach.")
            row.revoked_at = self._now()
            self._audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id, gallery_id=row.gallery_id,
                                 details={"action": "sharing.revoke", "agreement_id": row.id}))

    def list_sharing(self: FieldID, actor: Actor) -> list[dict[str, object]]:
        """Agreements the actor's agency granted or received."""
        actor.require(Permission.GALLERY_READ)
        with self.store.read() as s:
            rows = s.execute(select(SharingAgreement).where(
                (SharingAgreement.owner_agency_id == actor.agency_id)
                | (SharingAgreement.grantee_agency_id == actor.agency_id)
            ).order_by(SharingAgreement.created_at)).scalars()
            return [_agreement_dict(r) for r in rows]


def _agreement_dict(r: SharingAgreement) -> dict[str, object]:
    return {"id": r.id, "owner_agency_id": r.owner_agency_id, "grantee_agency_id": r.grantee_agency_id,
            "gallery_id": r.gallery_id, "purposes": r.purposes, "reference": r.reference,
            "expires_at": r.expires_at, "revoked_at": r.revoked_at, "created_at": r.created_at}
