"""Who is calling: an API key (``fid_…``) or, when configured, an OIDC-style JWT bearer token,
turned into the :class:`~fieldid.governance.actor.Actor` every service call takes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fieldid.context import Context
from fieldid.errors import Unauthenticated
from fieldid.governance.actor import Actor
from fieldid.governance.auth import KEY_PREFIX, ApiKeyAuthenticator

if TYPE_CHECKING:
    from fieldid.governance.jwt_auth import JwtAuthenticator


class Authenticator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        #: Verified API keys are remembered for a minute; revoking a key clears the memory.
        self.api_keys = ApiKeyAuthenticator()
        self._jwt: JwtAuthenticator | None = None

    def authenticate(self, token: str) -> Actor:
        """The actor behind an API key (or, when configured, a JWT bearer token)."""
        if token.startswith(KEY_PREFIX):
            with self.ctx.store.read() as s:
                return self.api_keys.authenticate(s, token, self.ctx.now())
        if self.ctx.settings.jwt_issuer and token.count(".") == 2:
            if self._jwt is None:
                from fieldid.governance.jwt_auth import JwtAuthenticator  # PyJWT only when JWTs are used

                self._jwt = JwtAuthenticator(self.ctx)
            with self.ctx.store.write() as s:  # may provision the user (audited)
                return self._jwt.authenticate(s, token)
        raise Unauthenticated("Unknown credentials.")
