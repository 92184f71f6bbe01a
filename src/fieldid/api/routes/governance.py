"""Accountability: sharing, authorisations, federated query, two-person review, challenges,
audit search/export, transparency report, retention, training mode."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from fieldid.api import schemas
from fieldid.api.deps import (
    AuditExporter,
    AuditReader,
    AuthorizationIssuer,
    Caller,
    ChallengeFiler,
    ChallengeResolver,
    FederatedSearcher,
    Fid,
    Fingers,
    GalleryReader,
    ReportReader,
    RetentionRunner,
    Reviewer,
    SharingManager,
    read_upload,
)
from fieldid.clock import as_utc
from fieldid.inputs import SearchContext

router = APIRouter(prefix="/v1", tags=["accountability"])


@router.post("/identify/federated", response_model=schemas.IdentifyResponse)
def identify_federated(
    actor: FederatedSearcher,
    prints: Fingers,
    fid: Fid,
    image: UploadFile | None = File(None, description="Face photo (and/or fingers below)."),
    purpose: str = Form("", max_length=64),
    case_number: str = Form("", max_length=120),
    legal_basis: str = Form("", max_length=200),
    authorization_ref: str | None = Form(None, max_length=200),
    justification: str = Form("", max_length=4000,
                              description="Why every gallery in reach must be searched."),
    top_k: int | None = Form(None, ge=1, le=50),
) -> object:
    probe = read_upload(image, fid.settings.max_image_bytes).data if image is not None else None
    why = SearchContext(purpose, case_number, legal_basis, authorization_ref, justification)
    return fid.search.identify_federated(actor, probe, why, top_k=top_k, fingers=prints)


@router.get("/sharing", response_model=list[schemas.Sharing])
def list_sharing(actor: GalleryReader, fid: Fid) -> list[dict[str, object]]:
    return fid.sharing.list_sharing(actor)


@router.post("/sharing", response_model=schemas.Sharing, status_code=201)
def create_sharing(body: schemas.SharingCreate, actor: SharingManager, fid: Fid) -> dict[str, object]:
    return fid.sharing.share_gallery(actor, body.gallery, body.grantee_agency_id, purposes=body.purposes,
                                     expires_at=as_utc(body.expires_at), reference=body.reference)


@router.delete("/sharing/{agreement_id}", status_code=204)
def revoke_sharing(agreement_id: str, actor: SharingManager, fid: Fid) -> Response:
    fid.sharing.revoke_sharing(actor, agreement_id)
    return Response(status_code=204)


@router.post("/authorizations", response_model=schemas.AuthorizationOut, status_code=201)
def record_authorization(body: schemas.AuthorizationCreate, actor: AuthorizationIssuer,
                         fid: Fid) -> dict[str, object]:
    return fid.authorizations.record_authorization(actor, body.reference, expires_at=as_utc(body.expires_at),
                                                   case_number=body.case_number)


@router.post("/searches/{search_id}/reviews", response_model=schemas.ReviewStatus, status_code=201)
def review(search_id: str, body: schemas.ReviewCreate, actor: Reviewer, fid: Fid) -> dict[str, object]:
    return fid.review.review_candidate(actor, search_id, body.identity_id, body.decision, body.note)


@router.post("/searches/{search_id}/evidence", response_model=schemas.ReviewStatus, status_code=201)
def evidence(search_id: str, body: schemas.EvidenceCreate, actor: Reviewer, fid: Fid) -> dict[str, object]:
    return fid.review.record_evidence(actor, search_id, body.identity_id, kind=body.kind,
                                      description=body.description,
                                      blocks_confirmation=body.blocks_confirmation)


@router.get("/searches/{search_id}/reviews/{identity_id}", response_model=schemas.ReviewStatus)
def review_status(search_id: str, identity_id: str, actor: GalleryReader, fid: Fid) -> dict[str, object]:
    return fid.review.review_status(actor, search_id, identity_id)


@router.post("/challenges", response_model=schemas.ChallengeOut, status_code=201)
def file_challenge(body: schemas.ChallengeCreate, actor: ChallengeFiler, fid: Fid) -> dict[str, object]:
    return fid.redress.file_challenge(actor, body.search_id, on_behalf_of=body.on_behalf_of,
                                      contact=body.contact,
                                      grounds=body.grounds)


@router.get("/challenges", response_model=list[schemas.ChallengeOut])
def list_challenges(
    actor: ChallengeResolver, fid: Fid,
    status: str | None = Query("open", pattern="^(open|upheld|dismissed)$"),
) -> list[dict[str, object]]:
    return fid.redress.list_challenges(actor, status)


@router.get("/challenges/{challenge_id}", response_model=schemas.ChallengeOut)
def get_challenge(challenge_id: str, actor: Caller, fid: Fid) -> dict[str, object]:
    return fid.redress.get_challenge(actor, challenge_id)


@router.post("/challenges/{challenge_id}/resolution", response_model=schemas.ChallengeOut)
def resolve_challenge(challenge_id: str, body: schemas.ChallengeResolve, actor: ChallengeResolver,
                      fid: Fid) -> dict[str, object]:
    return fid.redress.resolve_challenge(actor, challenge_id, outcome=body.outcome, reasons=body.reasons,
                                         identity_id=body.identity_id)


@router.get("/audit/events", response_model=schemas.AuditPage)
def audit_events(
    actor: AuditReader, fid: Fid,
    user: str | None = None, case_number: str | None = None, purpose: str | None = None,
    event_type: str | None = None, since: datetime | None = None, until: datetime | None = None,
    agency: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
) -> dict[str, object]:
    return fid.oversight.search_audit(actor, user=user, case_number=case_number, purpose=purpose,
                                      event_type=event_type, since=as_utc(since), until=as_utc(until),
                                      agency=agency, limit=limit, offset=offset)


@router.get("/audit/export", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
def audit_export(
    actor: AuditExporter, fid: Fid,
    user: str | None = None, case_number: str | None = None, purpose: str | None = None,
    event_type: str | None = None, since: datetime | None = None, until: datetime | None = None,
    agency: str | None = None,
) -> Response:
    events = fid.oversight.export_audit(actor, user=user, case_number=case_number, purpose=purpose,
                                        event_type=event_type, since=as_utc(since), until=as_utc(until),
                                        agency=agency)
    body = "".join(json.dumps(e, default=str, sort_keys=True) + "\n" for e in events)
    return Response(body, media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="fieldid-audit.ndjson"'})


@router.get("/audit/chain", response_model=schemas.ChainStatus)
def audit_chain(actor: AuditReader, fid: Fid) -> dict[str, object]:
    return fid.oversight.chain_status(actor)


@router.get("/reports/transparency", response_model=list[schemas.TransparencyRow])
def transparency(since: datetime, until: datetime, actor: ReportReader, fid: Fid,
                 agency: str | None = None) -> list[dict[str, object]]:
    return fid.oversight.transparency_report(actor, since=as_utc(since), until=as_utc(until), agency=agency)


@router.post("/retention/run", response_model=schemas.RetentionReport)
def retention_run(actor: RetentionRunner, fid: Fid) -> dict[str, object]:
    return fid.retention.run_retention(actor).__dict__


@router.put("/me/training-mode", response_model=schemas.User)
def training_mode(body: schemas.TrainingMode, actor: Caller, fid: Fid) -> dict[str, object]:
    return fid.admin.set_my_training_mode(actor, body.on)
