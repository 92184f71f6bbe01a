"""Who is acting: every service call takes an :class:`Actor` and checks its permissions."""

from __future__ import annotations

from dataclasses import dataclass

from fieldid.errors import PermissionDenied
from fieldid.governance.roles import Permission, Role, has_permission


@dataclass(frozen=True)
class Actor:
    user_id: str
    username: str
    agency_id: str
    role: Role
    training_mode: bool = False
    #: How the actor was authenticated ("api_key", "jwt", "cli"), recorded in the audit log.
    via: str = "api_key"

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                f"Role {self.role.value} may not {permission.value}.",
                permission=permission.value,
                role=self.role.value,
            )


#: The built-in actor used by local maintenance (CLI bootstrap, retention job).
SYSTEM = Actor(user_id="system", username="system", agency_id="system", role=Role.SYSTEM_ADMIN, via="local")
