"""Identification (1:N), verification (1:1) and search receipts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, UploadFile

from fieldid.api import schemas
from fieldid.api.deps import get_service, finger_uploads, read_upload, require, split_list
from fieldid.fingers import FingerInput
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission
from fieldid.service import FieldID, SearchContext

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/identify", response_model=schemas.IdentifyResponse)
def identify(
    image: UploadFile | None = File(None, description="Face photo of the person (JPEG/PNG/BMP/TIFF/WebP)."),
    galleries: list[str] = Form(..., description="Gallery ids or names (repeat, or comma-separated)."),
    purpose: str = Form("", max_length=64, description="Purpose code (see settings.purpose_codes)."),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
    top_k: int | None = Form(None, ge=1, le=50),
    investigative: bool = Form(False, description="Also list leads under the threshold (labelled)."),
    actor: Actor = Depends(require(Permission.SEARCH)),
    prints: list[FingerInput] = Depends(finger_uploads),
    service: FieldID = Depends(get_service),
) -> object:
    probe = read_upload(image, service.settings.max_image_bytes).data if image is not None else None
    ctx = SearchContext(purpose, case_number, legal_basis, authorization_ref)
    return service.identify(actor, split_list(galleries), probe, ctx, top_k=top_k, investigative=investigative,
                            fingers=prints)


@router.post("/verify", response_model=schemas.VerifyResponse)
def verify(
    image: UploadFile = File(...),
    identity_id: str = Form(..., max_length=64),
    purpose: str = Form("", max_length=64),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
    actor: Actor = Depends(require(Permission.SEARCH)),
    service: FieldID = Depends(get_service),
) -> object:
    probe = read_upload(image, service.settings.max_image_bytes)
    return service.verify(actor, identity_id, probe.data,
                          SearchContext(purpose, case_number, legal_basis, authorization_ref))


@router.get("/searches/{search_id}", response_model=schemas.SearchReceipt)
def get_search(search_id: str, actor: Actor = Depends(require(Permission.GALLERY_READ)),
               service: FieldID = Depends(get_service)) -> object:
    return service.get_search(actor, search_id)
