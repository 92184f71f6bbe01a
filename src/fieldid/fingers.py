"""Fingerprints in the service: preparing finger images, and 1:N finger comparison in galleries.

The pure pipeline is :mod:`fieldid.core.finger`; this module decodes images, keeps the ISO/IEC
19794-2 record and search key of each enrolled print, and scores probes against galleries:
a gallery small enough is compared exhaustively (exact minutiae matching of every print, the
accurate baseline); a larger one is first narrowed by the search keys in the vector index and
the shortlist is re-ranked by exact matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldid.config import Settings
from fieldid.core.finger import (
    MATCHER_MODEL_ID,
    Matcher,
    decode_iso19794_2,
    encode_iso19794_2,
    extract_finger,
    extract_fingers_from_photo,
    search_key,
)
from fieldid.core.params import FingerParams
from fieldid.errors import NoFingerprintFound
from fieldid.imaging import DecodedImage, decode_image, encode_jpeg
from fieldid.inputs import FingerInput
from fieldid.models.finger_models import shared_leader
from fieldid.storage import repo
from fieldid.storage.base import VectorIndex, space_key
from fieldid.storage.tables import Sample, Template
from fieldid.types import FingerTemplate, Modality

THUMBNAIL_SIDE = 160
#: A contact print (scanner, ink card) is grey: above this mean HSV saturation (0–1) the image is
#: a colour photograph (a face, a scene, a phone photo of a finger) and is refused as a contact
#: print, with a pointer to contactless capture. FVC and scanner images measure 0.0; face photos
#: of the dev set 0.27–0.60.
CONTACT_MAX_SATURATION = 0.15


@dataclass(frozen=True)
class PreparedFinger:
    """One print ready to store or search: template, its ISO record and search key."""

    sha256: str
    format: str
    thumbnail: bytes
    template: FingerTemplate
    position: int
    iso: bytes
    key: np.ndarray
    decoded: DecodedImage

    @property
    def model_id(self) -> str:
        return MATCHER_MODEL_ID


def prepare_fingers(inp: FingerInput, settings: Settings, params: FingerParams | None = None) -> list[PreparedFinger]:
    """Decode and extract; a contactless photo may give several prints (left to right)."""
    decoded = decode_image(inp.data, settings.image_limits)
    params = params or FingerParams()
    net = shared_leader()
    if inp.contactless:
        templates = extract_fingers_from_photo(decoded.rgb, params, net)
    else:
        saturation = float(cv2.cvtColor(decoded.rgb, cv2.COLOR_RGB2HSV)[..., 1].mean()) / 255.0
        if saturation > CONTACT_MAX_SATURATION:
            raise NoFingerprintFound(
                "This is a colour photograph, not a contact fingerprint scan. For a phone photo of "
                "fingers, use contactless capture.", saturation=round(saturation, 3))
        gray = cv2.cvtColor(decoded.rgb, cv2.COLOR_RGB2GRAY)
        templates = [extract_finger(gray, params, ppi=inp.ppi, net=net)]
    thumb = _thumbnail(decoded.rgb)
    out = []
    for t in templates:
        iso = encode_iso19794_2(t)
        out.append(PreparedFinger(decoded.sha256, decoded.format, thumb, t, inp.position, iso, search_key(t),
                                  decoded))
    return out


def _thumbnail(rgb: np.ndarray) -> bytes:
    scale = THUMBNAIL_SIDE / float(max(rgb.shape[:2]))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    return encode_jpeg(rgb, 85)


@dataclass(frozen=True)
class FingerRow:
    template_id: int
    identity_id: str
    sample_id: str
    position: int


#: Every fingerprint model id starts with this (faces' never do): templates of earlier finger
#: models are told apart from face templates without reading the table rows.
FINGER_MODEL_PREFIX = "fieldid-finger-"


def finger_model_counts(s: Session, gallery_ids: Sequence[str]) -> dict[str, int]:
    """Prints per finger model id in the galleries. Read from the (gallery, model) index alone,
    without table rows; a pattern, not a string range, so that no database collation can
    reorder the prefix."""
    rows = s.execute(select(Template.model_id, func.count(Template.id))
                     .where(Template.gallery_id.in_(list(gallery_ids)),
                            Template.model_id.startswith(FINGER_MODEL_PREFIX, autoescape=True))
                     .group_by(Template.model_id))
    return {m: int(n) for m, n in rows}


def finger_counts(s: Session, gallery_ids: Sequence[str]) -> int:
    return int(s.scalar(select(func.count(Template.id)).where(
        Template.gallery_id.in_(list(gallery_ids)), Template.model_id == MATCHER_MODEL_ID)) or 0)


def finger_gallery_notes(s: Session, gallery_ids: Sequence[str]) -> list[str]:
    """What a finger search must say about the prints of the galleries it searched.

    When they hold no print of today's model the fingers cannot find anyone, whatever the
    threshold says. Prints of an earlier finger model came from another extractor: comparing
    them with today's probes has no measured false-match rate, so they are not searched, and
    the searcher is told how many were skipped.
    """
    counts = finger_model_counts(s, gallery_ids)
    notes = []
    if not counts.get(MATCHER_MODEL_ID):
        notes.append("No searchable fingerprints are enrolled in the galleries searched: the fingers "
                     "could not find anyone.")
    old = {m: n for m, n in counts.items() if m != MATCHER_MODEL_ID}
    if old:
        count = sum(old.values())
        were = "prints were" if count != 1 else "print was"
        notes.append(f"Not searched: {count:,} enrolled {were} extracted by an earlier fingerprint "
                     f"model ({', '.join(sorted(old))}) and must be re-enrolled to be searchable.")
    return notes


def _rows(s: Session, where) -> list[tuple[Template, int]]:  # type: ignore[no-untyped-def]
    q = (select(Template, Sample.finger_position).join(Sample, Sample.id == Template.sample_id)
         .where(Template.model_id == MATCHER_MODEL_ID, where))
    return [(t, int(pos or 0)) for t, pos in s.execute(q).all()]


def search_finger(
    s: Session,
    index: VectorIndex,
    gallery_ids: Sequence[str],
    probe: PreparedFinger,
    *,
    exhaustive_max: int,
    shortlist: int,
) -> dict[str, tuple[float, str]]:
    """Best exact score per identity for one finger probe: {identity id: (score, sample id)}.

    Galleries with at most ``exhaustive_max`` prints are compared exhaustively; larger ones
    through a search-key shortlist of ``shortlist`` prints re-ranked by exact matching.
    """
    total = finger_counts(s, gallery_ids)
    if total == 0:
        return {}
    if total <= exhaustive_max:
        rows = _rows(s, Template.gallery_id.in_(list(gallery_ids)))
    else:
        spaces = [space_key(g, MATCHER_MODEL_ID) for g in gallery_ids]
        hits = index.search(spaces, probe.key[None, :].astype(np.float32), shortlist)[0]
        rows = _rows(s, Template.id.in_([h.vector_id for h in hits]))
    return _best(probe, rows)


def score_identities(s: Session, probe: PreparedFinger, identity_ids: Sequence[str]) -> dict[str, tuple[float, str]]:
    """Exact scores of one probe against every print of the given identities."""
    if not identity_ids:
        return {}
    return _best(probe, _rows(s, Template.identity_id.in_(list(identity_ids))))


def _best(probe: PreparedFinger, rows: list[tuple[Template, int]]) -> dict[str, tuple[float, str]]:
    # Only the same finger is compared when both positions are known.
    rows = [(t, pos) for t, pos in rows if not (probe.position and pos and pos != probe.position)]
    if not rows:
        return {}
    templates = [decode_iso19794_2(t.data or b"") for t, _ in rows]
    scores = Matcher(probe.template).match_many(templates)
    best: dict[str, tuple[float, str]] = {}
    for (t, _), score in zip(rows, scores.tolist(), strict=True):
        if score > best.get(t.identity_id, (-1.0, ""))[0]:
            best[t.identity_id] = (float(score), t.sample_id)
    return best


def finger_template_row(
    prepared: PreparedFinger, *, sample_id: str, identity_id: str, gallery_id: str, now
) -> Template:  # type: ignore[no-untyped-def]
    return Template(sample_id=sample_id, identity_id=identity_id, gallery_id=gallery_id,
                    modality=Modality.FINGER.value, model_id=MATCHER_MODEL_ID,
                    vector=repo.vector_bytes(prepared.key), data=prepared.iso, created_at=now)
