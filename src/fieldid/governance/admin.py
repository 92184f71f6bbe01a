"""Agencies, users and API keys (every change is audited). ``SYSTEM`` is the local maintenance actor."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import select

from fieldid.context import Context
from fieldid.errors import AgencyNotFound, Conflict, InvalidRequest, UserNotFound
from fieldid.governance import reach
from fieldid.governance.actor import SYSTEM, Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.auth import ApiKeyAuthenticator, IssuedKey, actor_for_user, new_api_key
from fieldid.governance.roles import Permission, Role
from fieldid.storage.tables import Agency, ApiKey, User

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9._@\-]{2,120}$")


class AdminService:
    """Agencies, users, their API keys and training-mode switches.

    ``api_keys`` is the authenticator whose cache of verified keys must forget a revoked key.
    """

    def __init__(self, ctx: Context, api_keys: ApiKeyAuthenticator) -> None:
        self.ctx = ctx
        self.api_keys = api_keys

    def create_agency(self, actor: Actor, agency_id: str, name: str, *,
                      requires_authorization: bool = False) -> dict[str, object]:
        actor.require(Permission.AGENCY_MANAGE)
        if not _ID_RE.match(agency_id):
            raise InvalidRequest("Agency id: 2–63 lower-case letters, digits or '-'.")
        with self.ctx.store.write() as s:
            if s.get(Agency, agency_id) is not None:
                raise Conflict(f"Agency {agency_id!r} exists.")
            s.add(Agency(id=agency_id, name=name[:200], requires_authorization=requires_authorization,
                         created_at=self.ctx.now()))
            self.ctx.audit(s, Event(EventType.ADMIN, agency_id, actor.user_id,
                                    details={"action": "agency.create", "name": name,
                                             "requires_authorization": requires_authorization}))
        return {"id": agency_id, "name": name, "requires_authorization": requires_authorization}

    def create_user(self, actor: Actor, username: str, role: Role | str, *, agency_id: str | None = None,
                    display_name: str = "", training_mode: bool = False) -> dict[str, object]:
        actor.require(Permission.USER_MANAGE)
        role = Role(role)
        agency_id = agency_id or actor.agency_id
        reach.check_user_management(actor, agency_id, role)
        if not _USERNAME_RE.match(username):
            raise InvalidRequest("Username: 2–120 letters, digits or . _ @ -")
        with self.ctx.store.write() as s:
            if s.get(Agency, agency_id) is None:
                raise AgencyNotFound(f"No agency {agency_id!r}.")
            if s.execute(select(User).where(User.username == username)).scalar_one_or_none() is not None:
                raise Conflict(f"User {username!r} exists.")
            user = User(id=str(uuid.uuid4()), agency_id=agency_id, username=username,
                        display_name=display_name or username, role=role.value,
                        training_mode=training_mode or role is Role.TRAINEE, active=True,
                        created_at=self.ctx.now())
            s.add(user)
            s.flush()
            self.ctx.audit(s, Event(EventType.ADMIN, agency_id, actor.user_id,
                                    details={"action": "user.create", "user_id": user.id,
                                             "username": username,
                                             "role": role.value}))
            return user_dict(user)

    def issue_api_key(self, actor: Actor, user: str, *, label: str = "",
                      expires_at: datetime | None = None) -> IssuedKey:
        actor.require(Permission.USER_MANAGE)
        with self.ctx.store.write() as s:
            row = reach.user_in_reach(s, actor, user)
            issued = new_api_key(s, row.id, self.ctx.now(), label=label, expires_at=expires_at)
            self.ctx.audit(s, Event(EventType.ADMIN, row.agency_id, actor.user_id,
                                    details={"action": "api_key.issue", "user_id": row.id,
                                             "key_id": issued.key_id}))
            return issued

    def revoke_api_key(self, actor: Actor, key_id: str) -> None:
        actor.require(Permission.USER_MANAGE)
        with self.ctx.store.write() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise UserNotFound("No such key.")
            reach.user_in_reach(s, actor, key.user_id)
            key.revoked_at = self.ctx.now()
            self.ctx.audit(s, Event(EventType.ADMIN, actor.agency_id, actor.user_id,
                                    details={"action": "api_key.revoke", "key_id": key_id}))
        self.api_keys.forget()

    def set_training_mode(self, actor: Actor, user: str, on: bool) -> dict[str, object]:
        actor.require(Permission.USER_MANAGE)
        with self.ctx.store.write() as s:
            row = reach.user_in_reach(s, actor, user)
            if row.role == Role.TRAINEE.value and not on:
                raise InvalidRequest("Trainees always work in training mode.")
            row.training_mode = bool(on)
            self.ctx.audit(s, Event(EventType.ADMIN, row.agency_id, actor.user_id,
                                    details={"action": "user.training_mode", "user_id": row.id,
                                             "on": bool(on)}))
            return user_dict(row)

    def set_my_training_mode(self, actor: Actor, on: bool) -> dict[str, object]:
        """The per-user switch into (and out of) the training sandbox; trainees stay in it."""
        with self.ctx.store.write() as s:
            row = s.get(User, actor.user_id)
            if row is None:
                raise UserNotFound("Unknown user.")
            if row.role == Role.TRAINEE.value and not on:
                raise InvalidRequest("Trainees always work in training mode.")
            row.training_mode = bool(on)
            self.ctx.audit(s, Event(EventType.ADMIN, row.agency_id, actor.user_id,
                                    details={"action": "user.training_mode.self", "on": bool(on)}))
            return user_dict(row)

    def list_users(self, actor: Actor) -> list[dict[str, object]]:
        actor.require(Permission.USER_MANAGE)
        with self.ctx.store.read() as s:
            q = reach.scoped(select(User).order_by(User.username), User.agency_id, reach.agency_scope(actor))
            return [user_dict(u) for u in s.execute(q).scalars()]

    def actor_for(self, username: str, via: str = "cli") -> Actor:
        """The actor of a local user (CLI); raises if unknown or disabled."""
        with self.ctx.store.read() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if user is None or not user.active:
                raise UserNotFound(f"No active user {username!r}: create one with `fieldid admin user`.")
            return actor_for_user(user, via)


def user_dict(u: User) -> dict[str, object]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "agency_id": u.agency_id,
            "role": u.role, "training_mode": u.training_mode, "active": u.active}


__all__ = ["SYSTEM", "AdminService", "user_dict"]
