"""OIDC-style bearer tokens: a JWT signed by the agency's identity provider.

The issuer, audience and verification keys (a PEM public key or a JWKS JSON file) come from
the settings. The token names the user (``sub``), the agency and the role in configurable
claims; a first-seen user is provisioned, and a role change in the identity provider is
applied and audited.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.context import Context
from fieldid.errors import ModelUnavailable, Unauthenticated
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.auth import actor_for_user
from fieldid.governance.roles import Role
from fieldid.storage.tables import Agency, User


class JwtAuthenticator:
    def __init__(self, ctx: Context) -> None:
        settings = ctx.settings
        if not (settings.jwt_issuer and settings.jwt_audience and settings.jwt_keys_file):
            raise ModelUnavailable("JWT needs jwt_issuer, jwt_audience and jwt_keys_file in the settings.")
        self.ctx = ctx
        text = Path(settings.jwt_keys_file).read_text()
        self._jwks: jwt.PyJWKSet | None = None
        self._pem: str | None = None
        if text.lstrip().startswith("{"):
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(text))
        else:
            self._pem = text

    def _key(self, token: str):  # type: ignore[no-untyped-def]
        if self._pem is not None:
            return self._pem
        assert self._jwks is not None
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._jwks.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise Unauthenticated("The token's signing key is unknown.")

    def authenticate(self, session: Session, token: str) -> Actor:
        s, now = self.ctx.settings, self.ctx.now()
        try:
            claims = jwt.decode(
                token, self._key(token), algorithms=list(s.jwt_algorithms), audience=s.jwt_audience,
                issuer=s.jwt_issuer, leeway=30, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"Invalid bearer token: {exc}") from None
        username = str(claims["sub"])[:120]
        agency_id = str(claims.get(s.jwt_agency_claim) or "")
        try:
            role = Role(str(claims.get(s.jwt_role_claim) or ""))
        except ValueError:
            raise Unauthenticated("The token carries no valid FieldID role.") from None
        if session.get(Agency, agency_id) is None:
            raise Unauthenticated("The token's agency is unknown to FieldID.")
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            user = User(id=str(uuid.uuid4()), agency_id=agency_id, username=username,
                        display_name=str(claims.get("name") or username)[:200], role=role.value,
                        training_mode=role is Role.TRAINEE, active=True, created_at=now)
            session.add(user)
            session.flush()
            self.ctx.audit(session, Event(EventType.ADMIN, agency_id, user.id, details={
                "action": "user.provision", "via": "jwt", "issuer": s.jwt_issuer, "role": role.value}))
        elif not reach.token_user_in_agency(user, agency_id) or not user.active:
            raise Unauthenticated("The token's user belongs to another agency or is disabled.")
        elif user.role != role.value:
            self.ctx.audit(session, Event(EventType.ADMIN, agency_id, user.id, details={
                "action": "user.role_change", "via": "jwt", "from": user.role, "to": role.value}))
            user.role = role.value
            user.training_mode = user.training_mode or role is Role.TRAINEE
        return actor_for_user(user, "jwt")
