"""Authentication: API keys (argon2-hashed) and OIDC-style JWT bearer tokens.

An API key looks like ``fid_<prefix>_<secret>``; the prefix finds the row, argon2 checks the
whole key. Verified keys are remembered in-process for a short time (keyed by a SHA-256 of
the key) so that argon2's deliberate cost is paid once per key and minute, not per request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldid.errors import Unauthenticated
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Role
from fieldid.storage.tables import ApiKey, User

_hasher = PasswordHasher()
KEY_PREFIX = "fid_"


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown once, never stored


def new_api_key(session: Session, user_id: str, now: datetime, *, label: str = "",
                expires_at: datetime | None = None) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    plain = f"{KEY_PREFIX}{prefix}_{secret}"
    row = ApiKey(id=str(uuid.uuid4()), user_id=user_id, prefix=prefix, key_hash=_hasher.hash(plain),
                 label=label[:120], created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return IssuedKey(row.id, plain)


def actor_for_user(user: User, via: str) -> Actor:
    return Actor(user_id=user.id, username=user.username, agency_id=user.agency_id, role=Role(user.role),
                 training_mode=bool(user.training_mode), via=via)


class ApiKeyAuthenticator:
    def __init__(self, cache_seconds: float = 60.0) -> None:
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._ttl = cache_seconds

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def authenticate(self, session: Session, presented: str, now: datetime) -> Actor:
        if not presented.startswith(KEY_PREFIX) or presented.count("_") < 2:
            raise Unauthenticated("Malformed API key.")
        prefix = presented[len(KEY_PREFIX):].split("_", 1)[0]
        fingerprint = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            cached = self._cache.get(fingerprint)
        row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise Unauthenticated("Unknown, revoked or expired API key.")
        if not (cached and cached[0] > time.monotonic() and cached[1] == row.id):
            try:
                _hasher.verify(row.key_hash, presented)
            except (VerificationError, InvalidHashError):
                raise Unauthenticated("Unknown, revoked or expired API key.") from None
            with self._lock:
                self._cache[fingerprint] = (time.monotonic() + self._ttl, row.id)
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            raise Unauthenticated("The key's user is disabled.")
        return actor_for_user(user, "api_key")
