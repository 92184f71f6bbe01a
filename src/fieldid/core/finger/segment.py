"""Segmentation: which pixels of a contact print are print (ridges), which are background.

Print area shows strong local contrast (ridges and valleys alternate every ~ 9 px); the
platen background is flat, and sensor noise is weaker than ridges. So a pixel belongs to
the print where the grey-level standard deviation over a block is a fair share of the
image's strongest local contrast. The raw mask is smoothed, reduced to its largest piece,
filled and eroded (its hard edge would otherwise produce false ridge endings).
"""

from __future__ import annotations

import cv2
import numpy as np

from fieldid.core.params import FingerSegmentParams


def local_std(image: np.ndarray, block: int) -> np.ndarray:
    """Standard deviation over a ``block`` × ``block`` window around each pixel."""
    f = image.astype(np.float32)
    mean = cv2.boxFilter(f, cv2.CV_32F, (block, block), borderType=cv2.BORDER_REFLECT)
    sq = cv2.boxFilter(f * f, cv2.CV_32F, (block, block), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def normalize_ridges(image: np.ndarray, block: int) -> np.ndarray:
    """Zero local mean, unit local contrast, ridges positive (contact ridges are dark)."""
    f = image.astype(np.float32)
    size = 2 * block + 1
    mean = cv2.GaussianBlur(f, (size, size), block / 2.0)
    centred = f - mean
    contrast = np.sqrt(cv2.GaussianBlur(centred * centred, (size, size), block / 2.0))
    return -centred / np.maximum(contrast, 1e-3 * float(contrast.max()) + 1e-6)


def segment_print(gray: np.ndarray, params: FingerSegmentParams) -> np.ndarray:
    """Boolean mask of the print area (largest connected region with ridge contrast)."""
    std = local_std(gray, params.block_size)
    reference = float(np.percentile(std, 95))
    if reference <= 1e-6:
        return np.zeros(gray.shape, bool)
    raw = (std > max(params.relative_std_threshold * reference, params.min_std)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.smooth_radius + 1,) * 2)
    raw = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel)
    raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, kernel)
    mask = largest_component(raw)
    mask = fill_holes(mask)
    if params.erode_px > 0:
        erode = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.erode_px + 1,) * 2)
        # Pad with background so that the image edge counts as an edge of the print too.
        pad = params.erode_px + 1
        padded = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        mask = cv2.erode(padded, erode)[pad:-pad, pad:-pad]
    return mask.astype(bool)


def largest_component(binary: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(binary.shape, np.uint8)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == best).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask.astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return (mask.astype(bool) | holes).astype(np.uint8)
