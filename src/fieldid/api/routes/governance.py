"""Accountability: sharing, authorisations, federated query, two-person review, challenges,
audit search/export, transparency report, retention, training mode."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from fieldid.api import schemas
from fieldid.api.deps import current_actor, get_service, finger_uploads, read_upload, require
from fieldid.fingers import FingerInput
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission
from fieldid.service import FieldID, SearchContext

router = APIRouter(prefix="/v1", tags=["accountability"])


@router.post("/identify/federated", response_model=schemas.IdentifyResponse)
def identify_federated(
    image: UploadFile | None = File(None, description="Face photo (and/or fingers below)."),
    purpose: str = Form("", max_length=64),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
    justification: str = Form("", max_length=4000, description="Why every gallery in reach must be searched."),
    top_k: int | None = Form(None, ge=1, le=50),
    actor: Actor = Depends(require(Permission.SEARCH_FEDERATED)),
    prints: list[FingerInput] = Depends(finger_uploads),
    service: FieldID = Depends(get_service),
) -> object:
    probe = read_upload(image, service.settings.max_image_bytes).data if image is not None else None
    ctx = SearchContext(purpose, case_number, legal_basis, authorization_ref, justification)
    return service.identify_federated(actor, probe, ctx, top_k=top_k, fingers=prints)


@router.get("/sharing", response_model=list[schemas.Sharing])
def list_sharing(actor: Actor = Depends(require(Permission.GALLERY_READ)),
                 service: FieldID = Depends(get_service)) -> list[dict[str, object]]:
    return service.list_sharing(actor)


@router.post("/sharing", response_model=schemas.Sharing, status_code=201)
def create_sharing(body: schemas.SharingCreate, actor: Actor = Depends(require(Permission.SHARING_MANAGE)),
                   service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.share_gallery(actor, body.gallery, body.grantee_agency_id, purposes=body.purposes,
                                 expires_at=_aware(body.expires_at), reference=body.reference)


@router.delete("/sharing/{agreement_id}", status_code=204)
def revoke_sharing(agreement_id: str, actor: Actor = Depends(require(Permission.SHARING_MANAGE)),
                   service: FieldID = Depends(get_service)) -> Response:
    service.revoke_sharing(actor, agreement_id)
    return Response(status_code=204)


@router.post("/authorizations", response_model=schemas.AuthorizationOut, status_code=201)
def record_authorization(body: schemas.AuthorizationCreate,
                         actor: Actor = Depends(require(Permission.AUTHORIZATION_ISSUE)),
                         service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.record_authorization(actor, body.reference, expires_at=_aware(body.expires_at),
                                        case_number=body.case_number)


@router.post("/searches/{search_id}/reviews", response_model=schemas.ReviewStatus, status_code=201)
def review(search_id: str, body: schemas.ReviewCreate, actor: Actor = Depends(require(Permission.REVIEW)),
           service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.review_candidate(actor, search_id, body.identity_id, body.decision, body.note)


@router.post("/searches/{search_id}/evidence", response_model=schemas.ReviewStatus, status_code=201)
def evidence(search_id: str, body: schemas.EvidenceCreate, actor: Actor = Depends(require(Permission.REVIEW)),
             service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.record_evidence(actor, search_id, body.identity_id, kind=body.kind,
                                   description=body.description, blocks_confirmation=body.blocks_confirmation)


@router.get("/searches/{search_id}/reviews/{identity_id}", response_model=schemas.ReviewStatus)
def review_status(search_id: str, identity_id: str, actor: Actor = Depends(require(Permission.GALLERY_READ)),
                  service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.review_status(actor, search_id, identity_id)


@router.post("/challenges", response_model=schemas.ChallengeOut, status_code=201)
def file_challenge(body: schemas.ChallengeCreate, actor: Actor = Depends(require(Permission.CHALLENGE_FILE)),
                   service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.file_challenge(actor, body.search_id, on_behalf_of=body.on_behalf_of, contact=body.contact,
                                  grounds=body.grounds)


@router.get("/challenges", response_model=list[schemas.ChallengeOut])
def list_challenges(status: str | None = Query("open", pattern="^(open|upheld|dismissed)$"),
                    actor: Actor = Depends(require(Permission.CHALLENGE_RESOLVE)),
                    service: FieldID = Depends(get_service)) -> list[dict[str, object]]:
    return service.list_challenges(actor, status)


@router.get("/challenges/{challenge_id}", response_model=schemas.ChallengeOut)
def get_challenge(challenge_id: str, actor: Actor = Depends(current_actor),
                  service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.get_challenge(actor, challenge_id)


@router.post("/challenges/{challenge_id}/resolution", response_model=schemas.ChallengeOut)
def resolve_challenge(challenge_id: str, body: schemas.ChallengeResolve,
                      actor: Actor = Depends(require(Permission.CHALLENGE_RESOLVE)),
                      service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.resolve_challenge(actor, challenge_id, outcome=body.outcome, reasons=body.reasons,
                                     identity_id=body.identity_id)


@router.get("/audit/events", response_model=schemas.AuditPage)
def audit_events(
    user: str | None = None, case_number: str | None = None, purpose: str | None = None,
    event_type: str | None = None, since: datetime | None = None, until: datetime | None = None,
    agency: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
    actor: Actor = Depends(require(Permission.AUDIT_READ)), service: FieldID = Depends(get_service),
) -> dict[str, object]:
    return service.search_audit(actor, user=user, case_number=case_number, purpose=purpose, event_type=event_type,
                                since=_aware(since), until=_aware(until), agency=agency, limit=limit, offset=offset)


@router.get("/audit/export", response_class=Response, responses={200: {"content": {"application/x-ndjson": {}}}})
def audit_export(
    user: str | None = None, case_number: str | None = None, purpose: str | None = None,
    event_type: str | None = None, since: datetime | None = None, until: datetime | None = None,
    agency: str | None = None,
    actor: Actor = Depends(require(Permission.AUDIT_EXPORT)), service: FieldID = Depends(get_service),
) -> Response:
    events = service.export_audit(actor, user=user, case_number=case_number, purpose=purpose, event_type=event_type,
                                  since=_aware(since), until=_aware(until), agency=agency)
    body = "".join(json.dumps(e, default=str, sort_keys=True) + "\n" for e in events)
    return Response(body, media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="fieldid-audit.ndjson"'})


@router.get("/audit/chain", response_model=schemas.ChainStatus)
def audit_chain(actor: Actor = Depends(require(Permission.AUDIT_READ)),
                service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.chain_status(actor)


@router.get("/reports/transparency", response_model=list[schemas.TransparencyRow])
def transparency(since: datetime, until: datetime, agency: str | None = None,
                 actor: Actor = Depends(require(Permission.REPORT_READ)),
                 service: FieldID = Depends(get_service)) -> list[dict[str, object]]:
    return service.transparency_report(actor, since=_aware(since), until=_aware(until), agency=agency)


@router.post("/retention/run", response_model=schemas.RetentionReport)
def retention_run(actor: Actor = Depends(require(Permission.RETENTION_RUN)),
                  service: FieldID = Depends(get_service)) -> dict[str, object]:
    report = service.run_retention(actor)
    return report.__dict__


@router.put("/me/training-mode", response_model=schemas.User)
def training_mode(body: schemas.TrainingMode, actor: Actor = Depends(current_actor),
                  service: FieldID = Depends(get_service)) -> dict[str, object]:
    return service.set_my_training_mode(actor, body.on)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
