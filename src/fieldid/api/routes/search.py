"""Identification (1:N), verification (1:1) and search receipts."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, UploadFile

from fieldid.api import schemas
from fieldid.api.deps import Fid, Fingers, GalleryReader, Searcher, read_upload, split_list
from fieldid.inputs import SearchContext

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/identify", response_model=schemas.IdentifyResponse)
def identify(
    actor: Searcher,
    prints: Fingers,
    fid: Fid,
    image: UploadFile | None = File(None, description="Face photo of the person (JPEG/PNG/BMP/TIFF/WebP)."),
    galleries: list[str] = Form(..., description="Gallery ids or names (repeat, or comma-separated)."),
    purpose: str = Form("", max_length=64, description="Purpose code (see settings.purpose_codes)."),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
    top_k: int | None = Form(None, ge=1, le=50),
    investigative: bool = Form(False, description="Also list leads under the threshold (labelled)."),
) -> object:
    probe = read_upload(image, fid.settings.max_image_bytes).data if image is not None else None
    why = SearchContext(purpose, case_number, legal_basis, authorization_ref)
    return fid.search.identify(actor, split_list(galleries), probe, why, top_k=top_k,
                               investigative=investigative,
                               fingers=prints)


@router.post("/verify", response_model=schemas.VerifyResponse)
def verify(
    actor: Searcher,
    fid: Fid,
    image: UploadFile = File(...),
    identity_id: str = Form(..., max_length=64),
    purpose: str = Form("", max_length=64),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
) -> object:
    probe = read_upload(image, fid.settings.max_image_bytes)
    return fid.search.verify(actor, identity_id, probe.data,
                             SearchContext(purpose, case_number, legal_basis, authorization_ref))


@router.get("/searches/{search_id}", response_model=schemas.SearchReceipt)
def get_search(search_id: str, actor: GalleryReader, fid: Fid) -> object:
    return fid.search.get_search(actor, search_id)
