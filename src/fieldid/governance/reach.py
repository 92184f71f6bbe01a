"""Reach: what an acting user may see and touch — every agency, sharing and training-mode rule.

* **Agency.** A user works inside one agency: its galleries, identities, searches, challenges,
  reviews and users. Anything of another agency is reported as *not found* (never "forbidden":
  that would confirm it exists). System administrators manage agencies and read every agency's
  audit log and reports, but hold no galleries of their own.
* **Sharing.** An agency searches a gallery of another agency only under an active agreement
  (not revoked, not expired) that names the search's purpose; while it lasts, the grantee also
  sees the thumbnails of that gallery's samples shown as candidates. Training galleries are
  never shared.
* **Training mode.** A user in training mode reaches only the training sandbox (galleries of
  kind ``training``, records sources of kind training or demo), never a shared gallery, never a
  federated query; their searches and reviews stay apart from operational ones.

Services and routes ask here; no other module compares agencies or training flags (a test,
tests/test_architecture.py, checks). Functions either answer a question (``…_in_reach`` →
bool) or fetch a row the actor may reach and raise the not-found error otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fieldid.errors import (
    GalleryNotFound,
    IdentityNotFound,
    PermissionDenied,
    SampleNotFound,
    TrainingModeViolation,
    UserNotFound,
)
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission, Role
from fieldid.storage import repo
from fieldid.storage.tables import Challenge, Gallery, Identity, Sample, Search, SharingAgreement, User

#: The gallery kind of the training sandbox.
TRAINING = "training"
_SANDBOX_ONLY = "In training mode only the training sandbox can be reached."

Q = TypeVar("Q", bound=Select[Any])


# -- agency ----------------------------------------------------------------------------------------
def own_agency(actor: Actor, agency_id: str | None) -> bool:
    """Does a row of ``agency_id`` belong to the actor's agency?"""
    return agency_id == actor.agency_id


def own_rows(column: InstrumentedAttribute[str], actor: Actor) -> ColumnElement[bool]:
    """SQL: rows of the actor's agency."""
    return column == actor.agency_id


def agency_scope(actor: Actor, requested: str | None = None) -> str | None:
    """The agency an oversight or user listing covers: a system administrator's the one they
    ask for (None: every agency); everybody else's their own."""
    return requested if actor.role is Role.SYSTEM_ADMIN else actor.agency_id


def scoped(query: Q, column: InstrumentedAttribute[str], scope: str | None) -> Q:
    """``query`` limited to the rows of ``scope`` (from :func:`agency_scope`; none: all)."""
    return query.where(column == scope) if scope else query


def user_in_reach(s: Session, actor: Actor, user_id_or_name: str) -> User:
    """A user the actor may manage: any for system administrators, else of their agency."""
    user = s.get(User, user_id_or_name) or s.execute(
        select(User).where(User.username == user_id_or_name)).scalar_one_or_none()
    if user is None or (actor.role is not Role.SYSTEM_ADMIN and not own_agency(actor, user.agency_id)):
        raise UserNotFound(f"No user {user_id_or_name!r} in reach.")
    return user


def check_user_management(actor: Actor, agency_id: str, role: Role) -> None:
    """Agency admins create users of their own agency only, and never system admins."""
    if actor.role is Role.SYSTEM_ADMIN:
        return
    if not own_agency(actor, agency_id):
        raise PermissionDenied("Agency admins manage users of their own agency only.")
    if role is Role.SYSTEM_ADMIN:
        raise PermissionDenied("Only a system admin can create system admins.")


def token_user_in_agency(user: User, agency_id: str) -> bool:
    """A bearer token acts for the user only within the user's own agency."""
    return user.agency_id == agency_id


# -- training mode ---------------------------------------------------------------------------------
def in_training(actor: Actor) -> bool:
    """In the training sandbox (trainees always are)."""
    return actor.training_mode or actor.role is Role.TRAINEE


def gallery_visible(actor: Actor, gallery: Gallery) -> bool:
    """Training mode shows only the sandbox; otherwise every own gallery."""
    return gallery.kind == TRAINING if actor.training_mode else True


def check_federated(actor: Actor) -> None:
    if actor.training_mode:
        raise TrainingModeViolation("Federated queries are not available in training mode.")


def record_source_in_reach(actor: Actor, agencies: Iterable[str] | None, kind: str) -> bool:
    """Does a record source (serving ``agencies``, None: every agency) exist for this actor?"""
    if agencies is not None and actor.agency_id not in agencies:
        return False
    if in_training(actor):
        return kind in ("training", "demo")
    return kind in ("operational", "demo")


# -- galleries ---------------------------------------------------------------------------------------
def own_gallery(s: Session, actor: Actor, ref: str) -> Gallery:
    """One of the actor's agency's galleries by id or name (the sandbox only, in training mode)."""
    g = repo.gallery_by_ref(s, actor.agency_id, ref)
    if g is None:
        raise GalleryNotFound(f"No gallery {ref!r} in reach.")
    if not gallery_visible(actor, g):
        raise TrainingModeViolation(_SANDBOX_ONLY)
    return g


def active_agreements(s: Session, grantee: str, now: datetime) -> list[SharingAgreement]:
    return list(s.execute(
        select(SharingAgreement).where(
            SharingAgreement.grantee_agency_id == grantee,
            SharingAgreement.revoked_at.is_(None),
            SharingAgreement.expires_at > now,
        )
    ).scalars())


def searchable_gallery(s: Session, actor: Actor, ref: str, purpose: str | None,
                       now: datetime) -> tuple[Gallery, bool]:
    """(gallery, shared) for a search by ``actor`` (``purpose`` None: reading, not searching);
    own galleries first, then shared ones, named by id or as ``<owner agency>/<name>``."""
    own = repo.gallery_by_ref(s, actor.agency_id, ref)
    if own is not None:
        if not gallery_visible(actor, own):
            raise TrainingModeViolation(_SANDBOX_ONLY)
        if not actor.training_mode and own.kind == TRAINING and purpose is not None:
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


def listed_galleries(s: Session, actor: Actor, now: datetime) -> list[tuple[Gallery, bool]]:
    """(gallery, shared) for every gallery the actor sees: own ones, then (outside training
    mode) those shared with the agency for any purpose."""
    rows = [(g, False) for g in repo.galleries_of(s, actor.agency_id) if gallery_visible(actor, g)]
    if not actor.training_mode:
        seen = {g.id for g, _ in rows}
        for agreement in active_agreements(s, actor.agency_id, now):
            g = s.get(Gallery, agreement.gallery_id)
            if g is not None and g.id not in seen:
                rows.append((g, True))
                seen.add(g.id)
    return rows


def reachable_galleries(s: Session, actor: Actor, purpose: str, now: datetime) -> list[tuple[Gallery, bool]]:
    """Every operational gallery the actor may search for ``purpose`` (federated query)."""
    out = [(g, False) for g in repo.galleries_of(s, actor.agency_id) if g.kind != TRAINING]
    seen = {g.id for g, _ in out}
    for agreement in active_agreements(s, actor.agency_id, now):
        if purpose in agreement.purposes and agreement.gallery_id not in seen:
            g = s.get(Gallery, agreement.gallery_id)
            if g is not None:
                out.append((g, True))
                seen.add(g.id)
    return out


def shareable(gallery: Gallery) -> bool:
    return gallery.kind != TRAINING


def other_agency(actor: Actor, agency_id: str) -> bool:
    """A sharing agreement names another agency as grantee."""
    return not own_agency(actor, agency_id)


def agreement_in_reach(actor: Actor, agreement: SharingAgreement | None) -> bool:
    """An agreement the actor's agency granted (and may revoke)."""
    return agreement is not None and own_agency(actor, agreement.owner_agency_id)


def agreements_of(actor: Actor) -> ColumnElement[bool]:
    """SQL: agreements the actor's agency granted or received."""
    return ((SharingAgreement.owner_agency_id == actor.agency_id)
            | (SharingAgreement.grantee_agency_id == actor.agency_id))


# -- identities and samples ------------------------------------------------------------------------
def identity_in_reach(s: Session, actor: Actor, identity_id: str) -> Identity:
    ident = s.get(Identity, identity_id)
    if ident is None or not own_agency(actor, ident.agency_id):
        raise IdentityNotFound(f"No identity {identity_id!r} in reach.")
    gallery = s.get(Gallery, ident.gallery_id)
    if actor.training_mode and (gallery is None or gallery.kind != TRAINING):
        raise TrainingModeViolation(_SANDBOX_ONLY)
    return ident


def sample_in_reach(s: Session, actor: Actor, sample_id: str, now: datetime) -> Sample:
    """An enrolled sample with a thumbnail, of the actor's agency or of a gallery shared with it
    (not in training mode). Never names the identity behind a sample out of reach."""
    sample = s.get(Sample, sample_id)
    missing = SampleNotFound(f"No sample {sample_id!r} in reach.")
    if sample is None or sample.thumbnail is None:
        raise missing
    shared = {a.gallery_id for a in active_agreements(s, actor.agency_id, now)}
    if sample.gallery_id not in shared or actor.training_mode:
        try:
            identity_in_reach(s, actor, sample.identity_id)
        except (IdentityNotFound, TrainingModeViolation):
            raise missing from None
    return sample


# -- searches and what hangs off them ---------------------------------------------------------------
def search_in_reach(actor: Actor, search: Search | None, *, same_mode: bool = False) -> bool:
    """A search of the actor's agency; with ``same_mode``, also made in the actor's mode
    (training reviews stay apart from operational ones)."""
    if search is None or not own_agency(actor, search.agency_id):
        return False
    return not same_mode or search.training == actor.training_mode


def receipt_in_reach(actor: Actor, search: Search | None) -> bool:
    """A search receipt: the searcher's own, or any of the agency's for auditors."""
    return search_in_reach(actor, search) and (
        search.user_id == actor.user_id or actor.can(Permission.AUDIT_READ))  # type: ignore[union-attr]


def challenge_in_reach(actor: Actor, challenge: Challenge | None, *, reading: bool = False) -> bool:
    """A challenge of the actor's agency; for ``reading``, only by resolvers or its filer."""
    if challenge is None or not own_agency(actor, challenge.agency_id):
        return False
    return not reading or actor.can(Permission.CHALLENGE_RESOLVE) or challenge.filed_by == actor.user_id
