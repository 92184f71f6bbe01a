"""The fingerprint extractor: one short function calling single-purpose stages in order.

contact:      [rescale to 500 ppi] → segment → normalise → orientation → ridge period →
              minutiae → quality → template
contactless:  flatten light → ridge period → rescale so the period is a 500 ppi one →
              invert (photo ridges are bright) → the contact stages → contactless quality

Minutiae come from a minutiae network (LEADER, :mod:`~fieldid.core.finger.netminutiae`) when
the caller gives one: that is what FieldID searches with. Without one, from our classic
stages (Gabor enhance → thin → crossing number → false-minutiae removal), kept as the
measured baseline and for callers that have no model.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from fieldid.core.finger.enhance import enhance_ridges
from fieldid.core.finger.minutiae import RawMinutiae, extract_minutiae, thin_ridges
from fieldid.core.finger.netminutiae import MinutiaeNet, detect_minutiae
from fieldid.core.finger.orient import orientation_field, ridge_period
from fieldid.core.finger.quality import (
    assess_contact,
    assess_contactless,
    contact_measures,
    contactless_measures,
)
from fieldid.core.finger.segment import normalize_ridges, segment_print
from fieldid.core.params import FingerFrequencyParams, FingerParams
from fieldid.errors import NoFingerprintFound
from fieldid.types import FingerCapture, FingerTemplate, frozen_array

#: Optional debugging sink: receives (stage name, intermediate value). Never printed.
TraceSink = Callable[[str, object], None]

#: Extractor identity; templates of different extractors are not mixed.
EXTRACTOR_ID = "fieldid-gabor-cn"
EXTRACTOR_VERSION = 1
#: ISO/IEC 19794-2:2011 impression type code for a contactless capture (2011 Amd. table:
#: 8 = "non-contact plain"); contact live-scan plain is 0.
IMPRESSION_CONTACTLESS = 8


def extract_finger(
    gray: np.ndarray,
    params: FingerParams | None = None,
    *,
    ppi: int = 500,
    contactless: bool = False,
    net: MinutiaeNet | None = None,
    trace: TraceSink | None = None,
) -> FingerTemplate:
    """Minutiae template of the print in ``gray`` (H×W uint8; an RGB image is converted).

    ``ppi`` is the contact image's resolution (ignored for contactless photos, whose scale
    comes from the ridge period). ``net`` finds the minutiae (see the module docstring).
    Raises :class:`~fieldid.errors.NoFingerprintFound` when the image holds no usable print.
    A print under the quality floor still yields a template: the caller's policy decides
    (``template.quality.acceptable``).
    """
    params = params or FingerParams()
    sink = trace or _no_trace
    gray = _as_gray(gray)
    if contactless:
        work, skin, scale, photo_clarity = _contactless_to_contact(gray, params, sink)
        out_ppi = params.working_ppi
    else:
        scale = params.working_ppi / float(ppi or params.working_ppi)
        work = gray if abs(scale - 1.0) < 1e-3 else _resize(gray, scale)
        skin, photo_clarity = None, None
        out_ppi = params.working_ppi
    mask = segment_print(work, params.segment)
    if skin is not None:
        mask &= skin
    sink("mask", mask)
    if mask.sum() < params.segment.min_area_px:
        raise NoFingerprintFound("No fingerprint was found in the image.", area_px=int(mask.sum()))
    normalized = normalize_ridges(work, params.segment.block_size)
    field = orientation_field(normalized, params.orient)
    sink("orientation", field)
    period = ridge_period(normalized * mask, mask, params.frequency)
    sink("period", period)
    if (
        period.reliable_share < params.frequency.min_reliable_share
        or period.clarity < params.frequency.min_clarity
    ):
        raise NoFingerprintFound("No ridge pattern was found in the image.", clarity=round(period.clarity, 3))
    if net is not None:
        raw = detect_minutiae(work, net, params.net)
        if skin is not None:  # a photo's background can look like ridges: only the fingertip
            raw = _inside(raw, mask)
    else:
        enhanced = enhance_ridges(normalized, field.theta, period.period, mask, params.enhance)
        sink("enhanced", enhanced)
        skeleton = thin_ridges(enhanced, mask)
        sink("skeleton", skeleton)
        # Minutiae are only trusted where the ridge pattern is clear (faint, dry, scarred areas
        # breed false endings): the mask they are looked for in drops unclear windows.
        clear = mask & (period.clarity_map >= params.minutiae.min_local_clarity)
        raw = extract_minutiae(skeleton, clear, field.theta, field.coherence, params.minutiae)
    raw = _best(raw, params.minutiae.max_minutiae)
    sink("minutiae", raw)
    if contactless:
        measures = contactless_measures(
            work, mask, photo_clarity or period.clarity, period.reliable_share, scale, len(raw.x)
        )
        quality = assess_contactless(measures, params.contactless, params.quality)
    else:
        measures = contact_measures(field.coherence, mask, period.clarity, period.reliable_share, raw.quality)
        quality = assess_contact(measures, params.quality)
    sink("quality", quality)
    h, w = work.shape
    return FingerTemplate(
        minutiae=frozen_array(_to_iso(raw), np.float32),
        width=int(w),
        height=int(h),
        ppi=int(out_ppi),
        quality=quality,
        model=net.model_id if net is not None else f"{EXTRACTOR_ID}@{EXTRACTOR_VERSION}",
        contactless=contactless,
        capture=FingerCapture(impression_type=IMPRESSION_CONTACTLESS if contactless else 0),
    )


def _as_gray(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3:
        a = cv2.cvtColor(a[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if a.ndim != 2 or min(a.shape) < 32:
        raise NoFingerprintFound("The image is too small to hold a fingerprint.", shape=list(a.shape))
    return a.astype(np.uint8) if a.dtype != np.uint8 else a


def _resize(gray: np.ndarray, scale: float) -> np.ndarray:
    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _contactless_to_contact(gray: np.ndarray, params: FingerParams, sink: TraceSink):
    """A finger photo → a contact-like image at ~ 500 ppi (dark ridges), its skin mask and scale."""
    cp = params.contactless
    clahe = cv2.createCLAHE(clipLimit=cp.clahe_clip, tileGridSize=(cp.clahe_tiles, cp.clahe_tiles))
    flat = clahe.apply(gray)
    skin = segment_print(flat, params.segment)  # ridge-textured area of the photo
    norm = normalize_ridges(flat, params.segment.block_size)
    search = FingerFrequencyParams(
        window=64,
        stride=32,
        min_period_px=cp.min_photo_period_px,
        max_period_px=cp.max_photo_period_px,
        min_peak_share=params.frequency.min_peak_share,
    )
    measured = ridge_period(norm * skin, skin, search)
    sink("photo_period", measured)
    scale = cp.target_period_px / max(measured.median, 1e-3)
    work = 255 - _resize(flat, scale)  # photo ridges are bright: make them dark like ink
    skin_scaled = cv2.resize(
        skin.astype(np.uint8), (work.shape[1], work.shape[0]), interpolation=cv2.INTER_NEAREST
    ).astype(bool)
    sink("contact_like", work)
    return work, skin_scaled, scale, measured.clarity


def _best(raw: RawMinutiae, limit: int) -> RawMinutiae:
    if len(raw.x) <= limit:
        return raw
    keep = np.sort(np.argsort(-raw.quality, kind="stable")[:limit])
    return RawMinutiae(raw.x[keep], raw.y[keep], raw.angle[keep], raw.kind[keep], raw.quality[keep])


def _inside(raw: RawMinutiae, mask: np.ndarray) -> RawMinutiae:
    h, w = mask.shape
    keep = mask[np.clip(raw.y.astype(int), 0, h - 1), np.clip(raw.x.astype(int), 0, w - 1)]
    return RawMinutiae(raw.x[keep], raw.y[keep], raw.angle[keep], raw.kind[keep], raw.quality[keep])


def _to_iso(raw: RawMinutiae) -> np.ndarray:
    """(n, 5) x, y, ISO angle (counter-clockwise as viewed: the image-frame angle negated)."""
    iso_angle = (-raw.angle.astype(np.float64)) % (2 * np.pi)
    return (
        np.stack([raw.x, raw.y, iso_angle, raw.kind, raw.quality], axis=1).astype(np.float32)
        if len(raw.x)
        else np.zeros((0, 5), np.float32)
    )


def _no_trace(stage: str, value: object) -> None:
    return None
