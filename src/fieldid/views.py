"""What the service returns: plain frozen views, free of templates and embeddings.

The HTTP schemas (:mod:`fieldid.api.schemas`) are built from these, and the CLI prints the
same schemas, so the API and ``fieldid identify --json`` give the same body. Views a terminal
shows render themselves for Rich (``__rich__``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table


@dataclass(frozen=True)
class GalleryView:
    id: str
    agency_id: str
    name: str
    description: str
    kind: str
    target_fpir: float
    identity_count: int
    version: int
    created_at: datetime
    shared: bool = False  # reached through a sharing agreement, not owned

    def __rich__(self) -> Table:
        return galleries_table([self])


def galleries_table(galleries: Iterable[GalleryView]) -> Table:
    """One row per gallery: name, id, kind, size, target FPIR, version."""
    from rich.table import Table

    table = Table("name", "id", "kind", "identities", "target FPIR", "version")
    for g in galleries:
        table.add_row(g.name, g.id, g.kind, f"{g.identity_count:,}",
                      f"{g.target_fpir:g}", str(g.version))
    return table


@dataclass(frozen=True)
class SampleView:
    id: str
    modality: str
    finger_position: int | None
    source: str
    captured_at: datetime | None
    legal_basis: str
    quality_score: float
    created_at: datetime


@dataclass(frozen=True)
class IdentityView:
    id: str
    pseudonym: str
    display_name: str
    subject_key: str | None
    gallery_id: str
    gallery_name: str
    created_at: datetime
    samples: tuple[SampleView, ...] = ()


@dataclass(frozen=True)
class QualityIssueView:
    code: str
    message: str
    blocking: bool


@dataclass(frozen=True)
class QualityView:
    score: float
    acceptable_for_search: bool
    issues: tuple[QualityIssueView, ...]
    measures: dict[str, float]
    face_box: tuple[int, int, int, int] | None = None
    other_faces: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class RejectedImage:
    index: int
    filename: str | None
    code: str
    message: str
    quality: QualityView | None = None


@dataclass(frozen=True)
class DuplicateView:
    identity_id: str
    pseudonym: str
    gallery_id: str
    score: float
    fmr: float


@dataclass(frozen=True)
class EnrollResult:
    identity: IdentityView
    accepted: int
    rejected: tuple[RejectedImage, ...]
    possible_duplicates: tuple[DuplicateView, ...]


@dataclass(frozen=True)
class CandidateView:
    rank: int
    identity_id: str
    pseudonym: str
    display_name: str | None
    gallery_id: str
    gallery_name: str
    sample_id: str  # the enrolled sample that scored best (its thumbnail is shown to reviewers)
    score: float
    fmr: float
    fmr_ci95: tuple[float, float]
    expected_false_candidates: float
    expected_false_candidates_ci95_high: float
    tier: str  # "candidate" | "investigative_lead"
    strength: str  # strong | moderate | limited | weak
    explanation: str
    records: tuple[object, ...] = ()
    comparisons: tuple[ComparisonView, ...] = ()  # per probe component, for multi-modal searches


@dataclass(frozen=True)
class ComparisonView:
    """One probe component (the face, or one finger) against one candidate."""

    component: int  # index into IdentifyResult.components
    modality: str
    finger_position: int | None
    score: float | None  # None: the candidate has no template of this kind
    fmr: float | None
    llr: float  # evidence this comparison adds to the fused score (0 when absent)


@dataclass(frozen=True)
class ComponentView:
    """One part of a probe: the face or one print, with its quality and whether it was searched."""

    index: int
    modality: str
    finger_position: int | None
    contactless: bool
    quality_score: float
    searched: bool
    issues: tuple[str, ...]
    model_id: str
    calibration_version: str


@dataclass(frozen=True)
class OperatingPointView:
    threshold: float
    threshold_fmr: float
    fpir_target: float
    gallery_size: int


@dataclass(frozen=True)
class CalibrationRef:
    version: str
    model_id: str
    dataset: str
    impostor_pairs: int
    genuine_pairs: int


@dataclass(frozen=True)
class IdentifyResult:
    search_id: str
    created_at: datetime
    outcome: str
    modality: str
    galleries: tuple[str, ...]
    gallery_size: int
    gallery_versions: dict[str, int]
    operating_point: OperatingPointView
    candidates: tuple[CandidateView, ...]
    reasons: tuple[str, ...]
    quality: QualityView
    model_id: str
    calibration: CalibrationRef
    purpose: str
    case_number: str
    training: bool
    demo: bool
    investigative: bool
    federated: bool = False
    record_sources: tuple[object, ...] = field(default_factory=tuple)
    components: tuple[ComponentView, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VerifyResult:
    search_id: str
    created_at: datetime
    identity_id: str
    pseudonym: str
    score: float
    fmr: float
    fmr_ci95: tuple[float, float]
    strength: str
    explanation: str
    #: "supports_same_person" when the score reaches the 1:1 threshold for the target FMR,
    #: "inconclusive" otherwise (never a yes/no "match").
    assessment: str
    threshold: float
    threshold_fmr: float
    quality: QualityView
    model_id: str
    calibration: CalibrationRef
    purpose: str
    case_number: str
