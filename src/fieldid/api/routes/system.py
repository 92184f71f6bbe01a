"""Health, the caller's identity, users and API keys."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from fieldid.api import schemas
from fieldid.api.deps import Caller, Fid, UserManager
from fieldid.governance.roles import ROLE_PERMISSIONS

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health", response_model=schemas.Health)
def health(fid: Fid) -> dict[str, object]:
    return {**fid.health(), "version": version("fieldid")}


@router.get("/me", response_model=schemas.Me)
def me(actor: Caller) -> dict[str, object]:
    return {
        "user_id": actor.user_id,
        "username": actor.username,
        "agency_id": actor.agency_id,
        "role": actor.role.value,
        "training_mode": actor.training_mode,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[actor.role]),
    }


@router.get("/users", response_model=list[schemas.User])
def list_users(actor: UserManager, fid: Fid) -> list[dict[str, object]]:
    return fid.admin.list_users(actor)


@router.post("/users", response_model=schemas.User, status_code=201)
def create_user(body: schemas.UserCreate, actor: UserManager, fid: Fid) -> dict[str, object]:
    return fid.admin.create_user(actor, body.username, body.role, agency_id=body.agency_id,
                                 display_name=body.display_name, training_mode=body.training_mode)


@router.post("/users/{user}/api-keys", response_model=schemas.ApiKeyIssued, status_code=201)
def issue_key(user: str, actor: UserManager, fid: Fid) -> object:
    return fid.admin.issue_api_key(actor, user)
