"""Dependencies: the service, the authenticated actor, permission checks, uploads.

Routes declare what they need with the ``Annotated`` aliases below: ``fid: Fid`` is the service
front, ``actor: Searcher`` an authenticated actor allowed to search, and so on (one alias per
permission a route checks). Checking the permission here means a caller without it never
reaches the route body; the service checks again (it is also called from the CLI and Python).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, File, Form, Request, UploadFile

from fieldid.errors import ImageTooLarge, InvalidRequest, Unauthenticated
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission
from fieldid.inputs import FingerInput, ImageInput
from fieldid.service import FieldID


def get_service(request: Request) -> FieldID:
    return request.app.state.service


Fid = Annotated[FieldID, Depends(get_service)]


def current_actor(request: Request, fid: Fid) -> Actor:
    """The caller, from ``Authorization: Bearer <API key or JWT>`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    token = ""
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    token = token or request.headers.get("x-api-key", "").strip()
    if not token:
        raise Unauthenticated("Send an API key or bearer token.")
    actor = fid.auth.authenticate(token)
    request.state.actor = actor
    return actor


def require(permission: Permission) -> Callable[..., Actor]:
    """One dependency per route: authenticate, then check the role/permission table."""

    def check(actor: Actor = Depends(current_actor)) -> Actor:
        actor.require(permission)
        return actor

    check.__name__ = f"require_{permission.value.replace('.', '_')}"
    return check


#: Any authenticated caller.
Caller = Annotated[Actor, Depends(current_actor)]
Searcher = Annotated[Actor, Depends(require(Permission.SEARCH))]
FederatedSearcher = Annotated[Actor, Depends(require(Permission.SEARCH_FEDERATED))]
GalleryReader = Annotated[Actor, Depends(require(Permission.GALLERY_READ))]
GalleryManager = Annotated[Actor, Depends(require(Permission.GALLERY_MANAGE))]
Enroller = Annotated[Actor, Depends(require(Permission.ENROLL))]
IdentityDeleter = Annotated[Actor, Depends(require(Permission.IDENTITY_DELETE))]
Reviewer = Annotated[Actor, Depends(require(Permission.REVIEW))]
AuthorizationIssuer = Annotated[Actor, Depends(require(Permission.AUTHORIZATION_ISSUE))]
SharingManager = Annotated[Actor, Depends(require(Permission.SHARING_MANAGE))]
ChallengeFiler = Annotated[Actor, Depends(require(Permission.CHALLENGE_FILE))]
ChallengeResolver = Annotated[Actor, Depends(require(Permission.CHALLENGE_RESOLVE))]
AuditReader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]
AuditExporter = Annotated[Actor, Depends(require(Permission.AUDIT_EXPORT))]
ReportReader = Annotated[Actor, Depends(require(Permission.REPORT_READ))]
RetentionRunner = Annotated[Actor, Depends(require(Permission.RETENTION_RUN))]
UserManager = Annotated[Actor, Depends(require(Permission.USER_MANAGE))]


def read_upload(upload: UploadFile, limit: int) -> ImageInput:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"The image {upload.filename!r} is larger than {limit:,} bytes.", max_bytes=limit)
    return ImageInput(data=data, filename=upload.filename)


def split_list(values: list[str] | None) -> list[str]:
    """Form lists may come repeated or comma-separated."""
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    if len(out) > 50:
        raise InvalidRequest("At most 50 galleries per search.")
    return out


def finger_uploads(
    fid: Fid,
    fingers: list[UploadFile] | None = File(
        None,
        description="Fingerprint images: contact scans or contactless phone photos (see finger_capture)."),
    finger_positions: list[str] | None = Form(
        None,
        description="ANSI/NIST finger position per finger image (1 right thumb … 10 left little, 0 unknown); "
        "repeat or comma-separate; one per image, or none for unknown fingers."),
    finger_capture: str = Form(
        "contact", pattern="^(contact|contactless)$",
        description="contact: scanner/ink prints; contactless: phone photos of fingers."),
    finger_ppi: int = Form(500, ge=250, le=1500, description="Resolution of contact scans."),
) -> list[FingerInput]:
    """The finger images of a request (a dependency shared by enrolment and search routes)."""
    uploads = fingers or []
    codes = split_list(finger_positions)
    if codes and len(codes) != len(uploads):
        raise InvalidRequest("Give one finger position per finger image (or none).", field="finger_positions")
    try:
        numbers = [int(c) for c in codes] or [0] * len(uploads)
    except ValueError:
        raise InvalidRequest("Finger positions are numbers 0–10.", field="finger_positions") from None
    out = []
    for upload, position in zip(uploads, numbers, strict=True):
        image = read_upload(upload, fid.settings.max_image_bytes)
        out.append(FingerInput(image.data, position, finger_capture == "contactless", image.filename or "",
                               finger_ppi))
    return out


#: The finger images of a search or enrolment request.
Fingers = Annotated[list[FingerInput], Depends(finger_uploads)]
