"""Galleries and the identities enrolled in them: create, list, read, re-target, delete."""

from __future__ import annotations

import re
import uuid

from fieldid.context import Context
from fieldid.errors import GalleryExists, InvalidRequest
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.result_views import gallery_view, identity_view
from fieldid.storage import repo
from fieldid.storage.tables import Gallery
from fieldid.template_index import TemplateIndex
from fieldid.views import GalleryView, IdentityView

_NAME_RE = re.compile(r"^[\w .\-]{1,120}$", re.UNICODE)
GALLERY_KINDS = ("operational", "training", "demo")


class GalleryService:
    def __init__(self, ctx: Context, templates: TemplateIndex) -> None:
        self.ctx = ctx
        self.templates = templates

    def create_gallery(self, actor: Actor, name: str, *, description: str = "",
                       target_fpir: float | None = None,
                       kind: str = "operational") -> GalleryView:
        actor.require(Permission.GALLERY_MANAGE)
        if not _NAME_RE.match(name or ""):
            raise InvalidRequest("Gallery name: 1–120 letters, digits, spaces, '.', '-' or '_'.")
        if kind not in GALLERY_KINDS:
            raise InvalidRequest("Gallery kind must be operational, training or demo.")
        fpir = self.ctx.settings.default_fpir if target_fpir is None else float(target_fpir)
        if not 0.0 < fpir < 0.5:
            raise InvalidRequest("target_fpir must be between 0 and 0.5.")
        with self.ctx.store.write() as s:
            if repo.gallery_by_ref(s, actor.agency_id, name) is not None:
                raise GalleryExists(f"The agency already has a gallery named {name!r}.")
            row = Gallery(id=str(uuid.uuid4()), agency_id=actor.agency_id, name=name,
                          description=description[:2000],
                          kind=kind, target_fpir=fpir, version=0, identity_count=0, created_at=self.ctx.now())
            s.add(row)
            s.flush()
            self.ctx.audit(s, Event(EventType.GALLERY_CREATE, actor.agency_id, actor.user_id,
                                    gallery_id=row.id,
                                    details={"name": name, "kind": kind, "target_fpir": fpir}))
            return gallery_view(row)

    def list_galleries(self, actor: Actor) -> list[GalleryView]:
        """Own galleries, then (outside training mode) those shared with the agency."""
        actor.require(Permission.GALLERY_READ)
        with self.ctx.store.read() as s:
            return [gallery_view(g, shared=shared) for g, shared in reach.listed_galleries(s, actor,
                                                                                           self.ctx.now())]

    def get_gallery(self, actor: Actor, ref: str) -> GalleryView:
        actor.require(Permission.GALLERY_READ)
        with self.ctx.store.read() as s:
            gallery, shared = reach.searchable_gallery(s, actor, ref, None, self.ctx.now())
            return gallery_view(gallery, shared=shared)

    def set_gallery_fpir(self, actor: Actor, ref: str, target_fpir: float) -> GalleryView:
        actor.require(Permission.GALLERY_MANAGE)
        if not 0.0 < target_fpir < 0.5:
            raise InvalidRequest("target_fpir must be between 0 and 0.5.")
        with self.ctx.store.write() as s:
            g = reach.own_gallery(s, actor, ref)
            old = g.target_fpir
            g.target_fpir = float(target_fpir)
            self.ctx.audit(s, Event(EventType.GALLERY_UPDATE, actor.agency_id, actor.user_id, gallery_id=g.id,
                                    details={"target_fpir": [old, g.target_fpir]}))
            return gallery_view(g)

    # -- identities --------------------------------------------------------------------------------
    def get_identity(self, actor: Actor, identity_id: str) -> IdentityView:
        actor.require(Permission.GALLERY_READ)
        with self.ctx.store.read() as s:
            ident = reach.identity_in_reach(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
            return identity_view(ident, gallery, samples=list(ident.samples),
                                 names=actor.can(Permission.RECORDS_READ))

    def list_identities(self, actor: Actor, gallery_ref: str, *, offset: int = 0,
                        limit: int = 50) -> list[IdentityView]:
        actor.require(Permission.GALLERY_READ)
        if not (offset >= 0 and 1 <= limit <= 500):
            raise InvalidRequest("offset ≥ 0 and 1 ≤ limit ≤ 500.")
        with self.ctx.store.read() as s:
            gallery = reach.own_gallery(s, actor, gallery_ref)
            names = actor.can(Permission.RECORDS_READ)
            return [identity_view(i, gallery, names=names) for i in repo.identities_page(s, gallery.id,
                                                                                         offset, limit)]

    def sample_thumbnail(self, actor: Actor, sample_id: str) -> bytes:
        """JPEG thumbnail of an enrolled sample (for reviewers' candidate cards)."""
        actor.require(Permission.GALLERY_READ)
        with self.ctx.store.read() as s:
            return bytes(reach.sample_in_reach(s, actor, sample_id, self.ctx.now()).thumbnail or b"")

    def delete_identity(self, actor: Actor, identity_id: str, *, reason: str) -> None:
        """Delete an identity with its samples, templates and vectors."""
        actor.require(Permission.IDENTITY_DELETE)
        if not reason.strip():
            raise InvalidRequest("Deleting an identity needs a reason (it is audited).")
        with self.ctx.store.write() as s:
            ident = reach.identity_in_reach(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
            templates = repo.identity_template_ids(s, identity_id)
            repo.delete_identity_rows(s, identity_id)
            gallery.identity_count = max(0, gallery.identity_count - 1)
            gallery.version += 1
            self.ctx.audit(s, Event(EventType.IDENTITY_DELETE, actor.agency_id, actor.user_id,
                                    gallery_id=gallery.id,
                                    details={"identity_id": identity_id, "pseudonym": ident.pseudonym,
                                             "templates": len(templates), "reason": reason[:1000],
                                             "gallery_version": gallery.version}))
        # After the commit: a failure here leaves only orphan vectors, which searches ignore and
        # reconciliation removes; the reverse order could leave rows without vectors.
        self.templates.remove(templates)
