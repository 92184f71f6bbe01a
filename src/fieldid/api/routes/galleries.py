"""Galleries, identities (enrolment, deletion) and sample thumbnails."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from fieldid.api import schemas
from fieldid.api.deps import (
    Enroller,
    Fid,
    Fingers,
    GalleryManager,
    GalleryReader,
    IdentityDeleter,
    read_upload,
)
from fieldid.clock import as_utc
from fieldid.inputs import EnrollmentInfo

router = APIRouter(prefix="/v1", tags=["galleries"])


@router.get("/galleries", response_model=list[schemas.Gallery])
def list_galleries(actor: GalleryReader, fid: Fid) -> list[object]:
    return list(fid.galleries.list_galleries(actor))


@router.post("/galleries", response_model=schemas.Gallery, status_code=201)
def create_gallery(body: schemas.GalleryCreate, actor: GalleryManager, fid: Fid) -> object:
    return fid.galleries.create_gallery(actor, body.name, description=body.description,
                                        target_fpir=body.target_fpir, kind=body.kind)


@router.get("/galleries/{gallery}", response_model=schemas.Gallery)
def get_gallery(gallery: str, actor: GalleryReader, fid: Fid) -> object:
    return fid.galleries.get_gallery(actor, gallery)


@router.patch("/galleries/{gallery}", response_model=schemas.Gallery)
def update_gallery(gallery: str, body: schemas.GalleryUpdate, actor: GalleryManager, fid: Fid) -> object:
    return fid.galleries.set_gallery_fpir(actor, gallery, body.target_fpir)


@router.get("/galleries/{gallery}/identities", response_model=list[schemas.Identity])
def list_identities(gallery: str, actor: GalleryReader, fid: Fid, offset: int = Query(0, ge=0),
                    limit: int = Query(50, ge=1, le=500)) -> list[object]:
    return list(fid.galleries.list_identities(actor, gallery, offset=offset, limit=limit))


@router.post("/galleries/{gallery}/identities", response_model=schemas.EnrollResponse, status_code=201)
def enroll(
    gallery: str,
    actor: Enroller,
    prints: Fingers,
    fid: Fid,
    images: list[UploadFile] | None = File(None, description="Face images of the person."),
    legal_basis: str = Form(..., min_length=1, max_length=200,
                            description="Legal basis or consent reference for holding the images."),
    display_name: str = Form("", max_length=200),
    subject_key: str | None = Form(None, max_length=200),
    source: str = Form("", max_length=200),
    captured_at: datetime | None = Form(None),
    on_duplicate: str = Form("report", pattern="^(report|reject)$"),
) -> object:
    inputs = [read_upload(u, fid.settings.max_image_bytes) for u in images or []]
    info = EnrollmentInfo(display_name=display_name, subject_key=subject_key, source=source,
                          legal_basis=legal_basis, captured_at=as_utc(captured_at))
    return fid.enrolment.enroll(actor, gallery, inputs, info, on_duplicate=on_duplicate, fingers=prints)


@router.get("/identities/{identity_id}", response_model=schemas.Identity)
def get_identity(identity_id: str, actor: GalleryReader, fid: Fid) -> object:
    return fid.galleries.get_identity(actor, identity_id)


@router.post("/identities/{identity_id}/samples", response_model=schemas.EnrollResponse, status_code=201)
def add_samples(
    identity_id: str,
    actor: Enroller,
    prints: Fingers,
    fid: Fid,
    images: list[UploadFile] | None = File(None, description="Face images of the person."),
    legal_basis: str = Form(..., min_length=1, max_length=200),
    source: str = Form("", max_length=200),
    captured_at: datetime | None = Form(None),
) -> object:
    inputs = [read_upload(u, fid.settings.max_image_bytes) for u in images or []]
    info = EnrollmentInfo(source=source, legal_basis=legal_basis, captured_at=as_utc(captured_at))
    return fid.enrolment.add_samples(actor, identity_id, inputs, info, fingers=prints)


@router.delete("/identities/{identity_id}", status_code=204)
def delete_identity(identity_id: str, actor: IdentityDeleter, fid: Fid,
                    reason: str = Query(..., min_length=1, max_length=1000)) -> Response:
    fid.galleries.delete_identity(actor, identity_id, reason=reason)
    return Response(status_code=204)


@router.get("/samples/{sample_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
def thumbnail(sample_id: str, actor: GalleryReader, fid: Fid) -> Response:
    return Response(fid.galleries.sample_thumbnail(actor, sample_id), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=300"})

