"""Public HTTP schemas. They never carry templates or embeddings, and no field is a boolean
"match": outcomes, tiers and strengths are words with documented meanings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fieldid.records.schemas import RecordOut, SourceHealthOut, SourceOut, SourceStatusOut

__all__ = ["RecordOut", "SourceHealthOut", "SourceOut", "SourceStatusOut"]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Schema):
    code: str = Field(description="Stable error code (see fieldid.errors).")
    message: str
    details: dict[str, Any] | None = None


class ErrorResponse(Schema):
    error: ErrorBody


class Health(Schema):
    status: str
    database: str
    index: str
    face_models_loaded: bool
    #: Face extraction worker processes (0: extraction in the request's thread).
    extraction_workers: int = 0
    demo: bool
    version: str


class Me(Schema):
    user_id: str
    username: str
    agency_id: str
    role: str
    training_mode: bool
    permissions: list[str]


class GalleryCreate(Schema):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    target_fpir: float | None = Field(None, gt=0, lt=0.5, description="Target FPIR; default from settings.")
    kind: Literal["operational", "training", "demo"] = "operational"


class GalleryUpdate(Schema):
    target_fpir: float = Field(gt=0, lt=0.5)


class Gallery(Schema):
    id: str
    agency_id: str
    name: str
    description: str
    kind: str
    target_fpir: float
    identity_count: int
    version: int
    created_at: datetime
    shared: bool


class Sample(Schema):
    id: str
    modality: str
    finger_position: int | None
    source: str
    captured_at: datetime | None
    legal_basis: str
    quality_score: float
    created_at: datetime


class Identity(Schema):
    id: str
    pseudonym: str
    display_name: str
    subject_key: str | None
    gallery_id: str
    gallery_name: str
    created_at: datetime
    samples: list[Sample] = []


class QualityIssue(Schema):
    code: str
    message: str
    blocking: bool = Field(description="True when this issue puts the probe under the quality floor.")


class Quality(Schema):
    score: float = Field(description="0–100.")
    acceptable_for_search: bool
    issues: list[QualityIssue]
    measures: dict[str, float]
    face_box: tuple[int, int, int, int] | None = None
    other_faces: list[tuple[int, int, int, int]] = []


class RejectedImage(Schema):
    index: int
    filename: str | None
    code: str
    message: str
    quality: Quality | None = None


class Duplicate(Schema):
    identity_id: str
    pseudonym: str
    gallery_id: str
    score: float
    fmr: float


class EnrollResponse(Schema):
    identity: Identity
    accepted: int
    rejected: list[RejectedImage]
    possible_duplicates: list[Duplicate]


class Candidate(Schema):
    rank: int
    identity_id: str
    pseudonym: str
    display_name: str | None
    gallery_id: str
    gallery_name: str
    sample_id: str
    score: float = Field(description="Raw similarity of the model (cosine); meaningless without fmr.")
    fmr: float = Field(description="False-match rate at this score: share of comparisons of different "
                                   "people scoring at least this high, from the calibration.")
    fmr_ci95: tuple[float, float]
    expected_false_candidates: float = Field(
        description="Expected number of wrong people scoring at least this high in the gallery searched (N·FMR)."
    )
    expected_false_candidates_ci95_high: float
    tier: Literal["candidate", "investigative_lead"]
    strength: Literal["strong", "moderate", "limited", "weak"]
    explanation: str
    comparisons: list[Comparison] = Field(
        [], description="Multi-part searches (face and/or fingers): each part's comparison; the candidate's "
        "score is then the sum of their log-likelihood ratios, its FMR that of the fused score.")
    records: list[RecordOut] = Field([], description="Linked records from connected record systems, filtered "
                                     "by role and agency; a record belongs to the candidate, not to the probe.")


class Comparison(Schema):
    """One part of the probe (the face, or one finger) against this candidate."""

    component: int = Field(description="Index into the response's components.")
    modality: Literal["face", "finger"]
    finger_position: int | None
    score: float | None = Field(description="Raw score of this comparison; null: no template of this kind.")
    fmr: float | None
    llr: float = Field(description="Log-likelihood ratio this comparison adds to the fused score.")


class Component(Schema):
    """One part of the probe, its quality, and whether it was searched."""

    index: int
    modality: Literal["face", "finger"]
    finger_position: int | None = Field(description="ANSI/NIST position (1 right thumb … 10 left little, 0 unknown).")
    contactless: bool
    quality_score: float
    searched: bool = Field(description="False: under the quality floor, left out of the search.")
    issues: list[str]
    model_id: str
    calibration_version: str


class OperatingPoint(Schema):
    threshold: float
    threshold_fmr: float = Field(description="Per-comparison FMR at the threshold.")
    fpir_target: float = Field(description="Target chance that a search of a person not enrolled shows any candidate.")
    gallery_size: int


class CalibrationRef(Schema):
    version: str
    model_id: str
    dataset: str
    impostor_pairs: int
    genuine_pairs: int


class IdentifyResponse(Schema):
    search_id: str = Field(description="Receipt id: quote it to review or challenge this search.")
    created_at: datetime
    outcome: Literal["candidates", "no_candidate", "under_quality", "investigative_list"]
    modality: str
    galleries: list[str]
    gallery_size: int
    gallery_versions: dict[str, int]
    operating_point: OperatingPoint
    candidates: list[Candidate]
    reasons: list[str]
    quality: Quality
    model_id: str
    calibration: CalibrationRef
    purpose: str
    case_number: str
    training: bool
    demo: bool
    investigative: bool
    federated: bool = Field(False, description="A federated query across every gallery in reach (elevated).")
    components: list[Component] = Field([], description="Parts of a face and/or finger probe (empty for a "
                                        "face-only search).")
    record_sources: list[SourceStatusOut] = Field(
        [], description="How each record source in reach answered (missing records are never silent).")


class VerifyResponse(Schema):
    search_id: str
    created_at: datetime
    identity_id: str
    pseudonym: str
    score: float
    fmr: float
    fmr_ci95: tuple[float, float]
    strength: str
    explanation: str
    assessment: Literal["supports_same_person", "inconclusive", "under_quality"]
    threshold: float
    threshold_fmr: float
    quality: Quality
    model_id: str
    calibration: CalibrationRef
    purpose: str
    case_number: str


class SearchReceipt(Schema):
    id: str
    kind: str
    created_at: datetime
    purpose: str
    case_number: str
    outcome: str
    gallery_size: int
    training: bool
    result: dict[str, Any]


class UserCreate(Schema):
    username: str
    role: Literal["trainee", "officer", "supervisor", "auditor", "agency_admin", "system_admin"]
    agency_id: str | None = None
    display_name: str = ""
    training_mode: bool = False


class User(Schema):
    id: str
    username: str
    display_name: str
    agency_id: str
    role: str
    training_mode: bool
    active: bool


class ApiKeyIssued(Schema):
    key_id: str
    api_key: str = Field(description="Shown once; only its argon2 hash is stored.")


class SharingCreate(Schema):
    gallery: str
    grantee_agency_id: str
    purposes: list[str] = Field(min_length=1)
    expires_at: datetime
    reference: str = Field(min_length=1, max_length=200, description="The written agreement (e.g. MoU number).")


class Sharing(Schema):
    id: str
    owner_agency_id: str
    grantee_agency_id: str
    gallery_id: str
    purposes: list[str]
    reference: str
    expires_at: datetime
    revoked_at: datetime | None
    created_at: datetime


class AuthorizationCreate(Schema):
    reference: str = Field(min_length=1, max_length=200)
    expires_at: datetime
    case_number: str | None = Field(None, max_length=120)


class AuthorizationOut(Schema):
    id: str
    reference: str
    case_number: str | None
    expires_at: datetime


class ReviewCreate(Schema):
    identity_id: str
    decision: Literal["confirm", "reject"]
    note: str = Field("", max_length=2000)


class EvidenceCreate(Schema):
    identity_id: str
    kind: Literal["identity_document", "citizenship_claim", "alibi", "biometric_mismatch", "other"]
    description: str = Field(min_length=1, max_length=4000)
    blocks_confirmation: bool = Field(description="True when the evidence contradicts the candidate.")


class ReviewDecision(Schema):
    reviewer_id: str
    decision: str
    note: str
    at: datetime


class EvidenceOut(Schema):
    kind: str
    description: str
    blocks_confirmation: bool
    recorded_by: str
    at: datetime


class ReviewStatus(Schema):
    search_id: str
    identity_id: str
    state: Literal["pending", "confirmed", "rejected", "disputed", "blocked"]
    required_confirmations: int
    decisions_recorded: int
    my_decision: str | None
    decisions: list[ReviewDecision] = Field(description="Shown only after your own decision (blind review).")
    evidence: list[EvidenceOut]


class ChallengeCreate(Schema):
    search_id: str = Field(description="The search receipt id the challenge is about.")
    on_behalf_of: Literal["subject", "advocate"]
    contact: str = Field(min_length=1, max_length=300)
    grounds: str = Field(min_length=1, max_length=8000)


class ChallengeResolve(Schema):
    outcome: Literal["upheld", "dismissed"]
    reasons: str = Field(min_length=1, max_length=8000)
    identity_id: str | None = Field(None, description="The misidentified candidate, when upheld.")


class ChallengeOut(Schema):
    id: str
    search_id: str
    agency_id: str
    filed_by: str
    on_behalf_of: str
    contact: str
    grounds: str
    status: str
    resolution: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class AuditEventOut(Schema):
    seq: int
    id: str
    ts: datetime
    event_type: str
    agency_id: str
    actor_id: str
    purpose: str | None
    case_number: str | None
    gallery_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(Schema):
    total: int
    events: list[AuditEventOut]


class ChainBreakOut(Schema):
    seq: int
    event_id: str
    problem: str
    detail: str


class ChainStatus(Schema):
    intact: bool
    events: int
    head_seq: int
    head_hash: str
    breaks: list[ChainBreakOut]


class TransparencyRow(Schema):
    agency_id: str
    since: datetime
    until: datetime
    searches: int
    outcome_candidates: int
    outcome_no_candidate: int
    outcome_under_quality: int
    outcome_investigative_list: int
    candidates_shown: int
    federated_searches: int
    confirmations: int
    challenges_filed: int
    challenges_upheld: int
    challenges_dismissed: int
    overturned_results: int


class RetentionReport(Schema):
    ran_at: datetime
    probe_images_purged: int
    probe_images_held: int
    searches_purged: int
    audit_events_purged: int


class TrainingMode(Schema):
    on: bool
