"""Health, the caller's identity, users and API keys."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Depends

from fieldid.api import schemas
from fieldid.api.deps import current_actor, get_service, require
from fieldid.governance.actor import Actor
from fieldid.governance.roles import ROLE_PERMISSIONS, Permission
from fieldid.service import FieldID

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health", response_model=schemas.Health)
def health(service: FieldID = Depends(get_service)) -> dict[str, object]:
    return {**service.health(), "version": version("fieldid")}


@router.get("/me", response_model=schemas.Me)
def me(actor: Actor = Depends(current_actor)) -> dict[str, object]:
    return {
        "user_id": actor.user_id,
        "username": actor.username,
        "agency_id": actor.agency_id,
        "role": actor.role.value,
        "training_mode": actor.training_mode,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[actor.role]),
    }


@router.get("/users", response_model=list[schemas.User])
def list_users(actor: Actor = Depends(require(Permission.USER_MANAGE)),
               service: FieldID = Depends(get_service)) -> list[dict[str, object]]:
    return service.list_users(actor)


@router.post("/users", response_model=schemas.User, status_code=201)
def create_user(body: schemas.UserCreate, actor: Actor = Depends(require(Permission.USER_MANAGE)),
                service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.create_user(actor, body.username, body.role, agency_id=body.agency_id,
                               display_name=body.display_name, training_mode=body.training_mode)


@router.post("/users/{user}/api-keys", response_model=schemas.ApiKeyIssued, status_code=201)
def issue_key(user: str, actor: Actor = Depends(require(Permission.USER_MANAGE)),
              service: FieldID = Depends(get_service)) -> object:
    return service.issue_api_key(actor, user)
