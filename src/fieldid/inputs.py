"""Request-side values: what a caller hands the services (images, fingers, enrolment facts, the
reason for a search), and an enrolment image once extracted.

Plain frozen dataclasses with no behaviour beyond checking themselves, so that every layer
(routes, CLI, bulk enrolment, governance) can import them without importing a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fieldid.errors import InvalidRequest

if TYPE_CHECKING:
    from fieldid.types import FaceTemplate

#: ANSI/NIST-ITL finger position codes (0 = unknown).
FINGER_POSITIONS = {
    0: "unknown finger", 1: "right thumb", 2: "right index", 3: "right middle", 4: "right ring",
    5: "right little", 6: "left thumb", 7: "left index", 8: "left middle", 9: "left ring", 10: "left little",
}


@dataclass(frozen=True)
class ImageInput:
    """One face image as sent."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class FingerInput:
    """One finger image as sent: a contact scan (``ppi`` known) or a contactless phone photo
    (one or several fingers; scale found from the ridge period)."""

    data: bytes
    position: int = 0
    contactless: bool = False
    filename: str = ""
    ppi: int = 500

    def __post_init__(self) -> None:
        if self.position not in FINGER_POSITIONS:
            raise InvalidRequest("Finger position must be an ANSI/NIST code: 0 (unknown), 1 (right thumb) … "
                                 "10 (left little).", field="finger_positions")
        if not 250 <= self.ppi <= 1500:
            raise InvalidRequest("Scan resolution must be between 250 and 1500 ppi.", field="ppi")


@dataclass(frozen=True)
class SearchContext:
    """Why a search is made: required on every search and recorded in the audit log."""

    purpose: str
    case_number: str
    legal_basis: str = ""
    authorization_ref: str | None = None
    justification: str | None = None


@dataclass(frozen=True)
class EnrollmentInfo:
    """What is recorded with enrolled samples: who they are (optional) and why they are held."""

    display_name: str = ""
    subject_key: str | None = None
    source: str = ""
    legal_basis: str = ""
    captured_at: datetime | None = None


@dataclass(frozen=True)
class PreparedSample:
    """A face enrolment image after decoding and extraction (what gets stored, minus the image)."""

    sha256: str
    format: str
    thumbnail: bytes
    template: FaceTemplate


__all__ = ["FINGER_POSITIONS", "EnrollmentInfo", "FingerInput", "ImageInput", "PreparedSample",
           "SearchContext"]
