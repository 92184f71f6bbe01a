"""Frozen value types shared by the pipelines, the service and the storage layer.

Arrays inside these dataclasses are treated as immutable (we set ``writeable = False``);
equality of such dataclasses is by identity (``eq=False``) because arrays have no boolean
equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Modality(StrEnum):
    FACE = "face"
    FINGER = "finger"


def frozen_array(arr: np.ndarray, dtype: type | None = None) -> np.ndarray:
    out = np.array(arr, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in image pixels; right/bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return max(0, self.right - self.left)

    @property
    def height(self) -> int:
        return max(0, self.bottom - self.top)

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.right, self.bottom]


@dataclass(frozen=True)
class FaceDetection:
    box: Box
    score: float  # detector confidence (HOG SVM margin or MMOD confidence)
    detector: str  # "hog" | "cnn"
    #: HOG sub-detector (0 frontal, 1 left-looking, 2 right-looking, 3/4 rotated), -1 otherwise
    pose_index: int = -1


@dataclass(frozen=True)
class QualityIssue:
    code: str  # stable: face_too_small, blurred, turned, tilted, under_exposed, over_exposed, ...
    message: str
    blocking: bool  # True: under the quality floor, the probe is not searched


@dataclass(frozen=True)
class QualityReport:
    """Quality of one sample, 0–100, with the reasons behind it."""

    score: float
    issues: tuple[QualityIssue, ...] = ()
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def acceptable(self) -> bool:
        """False when any blocking issue puts the sample under the quality floor."""
        return not any(i.blocking for i in self.issues)

    @property
    def issue_codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.issues)


@dataclass(frozen=True, eq=False)
class FaceTemplate:
    """What the face pipeline extracts from one image: a unit embedding and its context."""

    embedding: np.ndarray  # (dim,) float32, unit L2 norm, read-only
    model: str  # embedder identity "name@version"; embeddings of different models never mix
    quality: QualityReport
    detection: FaceDetection
    landmarks: np.ndarray  # (5, 2) float32 image coordinates, read-only
    other_faces: tuple[FaceDetection, ...] = ()

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[0])


@dataclass(frozen=True)
class ScoredId:
    """One raw search hit: a template's vector id and its similarity."""

    vector_id: int
    score: float


@dataclass(frozen=True)
class FingerCapture:
    """Capture context carried by an ISO/IEC 19794-2 record, kept so that a decoded record
    re-encodes to the same bytes. Codes are the standard's (finger position 0 = unknown,
    impression type 0 = live-scan plain, 8 = contactless in the 2011 amendment's table)."""

    finger_position: int = 0
    impression_type: int = 0
    view_number: int = 0
    device_technology: int = 0
    device_vendor: int = 0
    device_type: int = 0  # 2005: the whole 16-bit capture equipment field
    capture_time: bytes = b"\xff" * 9  # 2011 capture date/time, all 0xFF = unknown
    quality_blocks: tuple[tuple[int, int, int], ...] = ()  # 2011: (score, vendor, algorithm)
    extended_data: bytes = b""  # extended data blocks, kept verbatim
    ridge_ending_type: int = 1  # 2011: 1 = ridge skeleton end point (ours), 0 = valley bifurcation


@dataclass(frozen=True, eq=False)
class FingerTemplate:
    """What the fingerprint pipeline extracts from one print: minutiae and their context.

    ``minutiae`` is (n, 5) float32, read-only: x, y (pixels, origin top-left, y down),
    angle (radians in [0, 2π), counter-clockwise from the x axis as the image is viewed, the
    ISO/IEC 19794-2 convention), type (1 ridge ending, 2 bifurcation, 0 other: the ISO codes)
    and quality (0–100; 0 = not reported).
    """

    minutiae: np.ndarray
    width: int
    height: int
    ppi: int
    quality: QualityReport
    model: str  # extractor identity "name@version"; templates of different models never mix
    contactless: bool = False
    capture: FingerCapture = FingerCapture()

    @property
    def count(self) -> int:
        return int(self.minutiae.shape[0])
