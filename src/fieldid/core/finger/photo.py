"""Contactless capture: fingers in a colour phone photo → one template per finger.

Fingers are found as skin-coloured blobs (YCrCb window, Chai & Ngan 1999) in a reduced copy
of the photo; each blob's principal axis gives the finger's direction, its end farther from
the image border is the tip. The tip (first phalanx) is cut out of the full-resolution
photo, turned upright and handed to the contactless path of the extractor, which finds the
ridges, the scale (from the ridge period) and the minutiae.

When skin fills most of the photo (a close-up of one finger, or a skin-toned background),
the whole photo is one finger and the ridge-texture segmentation does the work.
Fingers must be apart in the photo (no merged palm blob): a hand photo with fingers held
together is reported as one finger.
"""

from __future__ import annotations

import cv2
import numpy as np

from fieldid.core.finger.netminutiae import MinutiaeNet
from fieldid.core.finger.pipeline import extract_finger
from fieldid.core.finger.segment import fill_holes
from fieldid.core.params import ContactlessParams, FingerParams
from fieldid.errors import NoFingerprintFound
from fieldid.types import FingerTemplate

#: When the largest skin blob covers more than this share of the photo, it is a close-up.
_CLOSE_UP_SHARE = 0.5


def skin_mask(rgb: np.ndarray, params: ContactlessParams) -> np.ndarray:
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    raw = (
        (cr >= params.skin_cr_min)
        & (cr <= params.skin_cr_max)
        & (cb >= params.skin_cb_min)
        & (cb <= params.skin_cb_max)
    ).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    raw = cv2.morphologyEx(cv2.morphologyEx(raw, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    return fill_holes(raw).astype(bool)


def find_fingers(rgb: np.ndarray, params: ContactlessParams) -> list[np.ndarray]:
    """Upright grey fingertip crops, left to right (the whole photo for a close-up)."""
    h, w = rgb.shape[:2]
    factor = min(1.0, params.detect_max_side / max(h, w))
    small = cv2.resize(
        rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    mask = skin_mask(small, params)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    area_total = mask.shape[0] * mask.shape[1]
    blobs = [
        i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= params.min_finger_area_share * area_total
    ]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if not blobs or max(stats[i, cv2.CC_STAT_AREA] for i in blobs) > _CLOSE_UP_SHARE * area_total:
        return [gray]
    blobs = sorted(blobs, key=lambda i: -stats[i, cv2.CC_STAT_AREA])[: params.max_fingers]
    blobs.sort(key=lambda i: centroids[i][0])
    crops = []
    for i in blobs:
        crop = _fingertip(gray, labels == i, factor, params)
        if crop is not None:
            crops.append(crop)
    return crops


def _fingertip(
    gray: np.ndarray, blob: np.ndarray, factor: float, params: ContactlessParams
) -> np.ndarray | None:
    ys, xs = np.nonzero(blob)
    pts = np.stack([xs, ys], 1).astype(np.float64) / factor  # full-resolution coordinates
    centre = pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((pts - centre).T))
    axis = vecs[:, 1]  # the long axis
    proj = (pts - centre) @ axis
    ends = [centre + proj.min() * axis, centre + proj.max() * axis]
    h, w = gray.shape

    def border_distance(p: np.ndarray) -> float:
        return float(min(p[0], p[1], w - 1 - p[0], h - 1 - p[1]))

    # The tip is the end away from the image border (the hand is cut off by the frame);
    # when both ends are about as far (a finger held up in the middle), the upper one.
    d0, d1 = border_distance(ends[0]), border_distance(ends[1])
    if abs(d0 - d1) <= 0.1 * max(d0, d1, 1.0):
        tip = min(ends, key=lambda p: p[1])
    else:
        tip = ends[0] if d0 > d1 else ends[1]
    direction = (tip - centre) / (np.linalg.norm(tip - centre) + 1e-9)
    width = float(np.percentile(np.abs((pts - centre) @ np.array([-axis[1], axis[0]])), 95) * 2)
    length = params.tip_length_widths * width
    if width < 16:
        return None
    # Rotate so that the finger points up, then cut the tip box.
    angle = np.degrees(np.arctan2(direction[1], direction[0])) + 90.0
    rot = cv2.getRotationMatrix2D((float(tip[0]), float(tip[1])), angle, 1.0)
    upright = cv2.warpAffine(gray, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    x0, x1 = int(tip[0] - width / 2), int(tip[0] + width / 2)
    y0, y1 = int(tip[1] - 0.1 * width), int(tip[1] + length)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return upright[y0:y1, x0:x1].copy()


def extract_fingers_from_photo(
    rgb: np.ndarray, params: FingerParams | None = None, net: MinutiaeNet | None = None
) -> list[FingerTemplate]:
    """Templates of the fingers in a contactless photo, left to right as they appear.

    ``net``: the minutiae network, as for :func:`~fieldid.core.finger.pipeline.extract_finger`.

    Fingers whose tip holds no usable ridges are left out; if none is usable,
    :class:`~fieldid.errors.NoFingerprintFound` is raised.
    """
    params = params or FingerParams()
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    crops = find_fingers(rgb[..., :3].astype(np.uint8), params.contactless)
    templates = []
    for crop in crops:
        try:
            templates.append(extract_finger(crop, params, contactless=True, net=net))
        except NoFingerprintFound:
            continue
    if not templates:
        raise NoFingerprintFound("No finger with visible ridges was found in the photo.", fingers=len(crops))
    return templates
