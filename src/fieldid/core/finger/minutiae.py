"""Minutiae: ridge endings and bifurcations of the thinned, enhanced ridge image.

Steps: binarise the Gabor response, thin it to a one-pixel skeleton, find candidates by the
crossing number (1 = ending, 3 = bifurcation), trace the skeleton from each candidate to
measure its direction and to recognise the usual false structures (Maltoni et al.,
*Handbook of Fingerprint Recognition*, 3.8): spurs, short ridges (islands), broken ridges,
bridges and clusters in noisy areas. What survives gets a quality from its neighbourhood.

Directions here are in the image frame (x right, y down). An ending points away from its
ridge, a bifurcation along its single branch (away from the fork): so an ending and the
bifurcation of the valley at the same place point the same way, which keeps directions
stable when ridge polarity is misjudged (contactless photos).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit
from skimage.morphology import skeletonize

from fieldid.core.params import FingerMinutiaeParams

ENDING = 1
BIFURCATION = 2

# 8-neighbourhood in ring order (clockwise from east), as (dy, dx).
_RING = np.array([(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)], np.int64)
_NEXT = np.array([1, 2, 3, 4, 5, 6, 7, 0], np.int64)


@dataclass(frozen=True)
class RawMinutiae:
    """Candidates after false-minutiae removal, image frame, before quality ranking."""

    x: np.ndarray  # float32 px
    y: np.ndarray
    angle: np.ndarray  # image frame, radians [0, 2π)
    kind: np.ndarray  # ENDING | BIFURCATION
    quality: np.ndarray  # 0–100


def thin_ridges(enhanced: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One-pixel skeleton (uint8 0/1) of the ridges inside the mask."""
    binary = (enhanced > 0) & mask
    binary = cv2.morphologyEx(binary.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return skeletonize(binary.astype(bool)).astype(np.uint8)


@njit(cache=True)
def crossing_numbers(skel: np.ndarray) -> np.ndarray:
    h, w = skel.shape
    out = np.zeros((h, w), np.int8)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            if skel[y, x] == 0:
                continue
            total = 0
            for k in range(8):
                k2 = _NEXT[k]  # (k + 1) % 8 inline miscompiles here (numba 0.68)
                a = np.int64(skel[y + _RING[k, 0], x + _RING[k, 1]])
                b = np.int64(skel[y + _RING[k2, 0], x + _RING[k2, 1]])
                total += abs(a - b)
            out[y, x] = total // 2
    return out


@njit(cache=True)
def _trace(skel, cn, y0, x0, y1, x1, max_len, dir_len):
    """Walk the skeleton from (y0, x0) through its neighbour (y1, x1).

    Returns (stop_y, stop_x, length, stop_kind, dir_y, dir_x): stop_kind 1 = reached an
    ending, 3 = reached a junction, 0 = walked max_len, -1 = dead end; (dir_y, dir_x) is
    the point ``dir_len`` steps along (or the last one).
    """
    h, w = skel.shape
    py, px, cy, cx = y0, x0, y1, x1
    ppy, ppx = y0, x0
    dy_, dx_ = y1, x1
    for step in range(1, max_len + 1):
        if step <= dir_len:
            dy_, dx_ = cy, cx
        c = cn[cy, cx]
        if c == 1:
            return cy, cx, step, 1, dy_, dx_
        if c >= 3:
            return cy, cx, step, 3, dy_, dx_
        best_y, best_x, best_rank = -1, -1, 99
        for k in range(8):
            ny, nx = cy + _RING[k, 0], cx + _RING[k, 1]
            if ny < 0 or nx < 0 or ny >= h or nx >= w or skel[ny, nx] == 0:
                continue
            if (ny == py and nx == px) or (ny == ppy and nx == ppx):
                continue
            # Prefer a pixel not touching where we came from (skeleton corners).
            rank = 1 if (abs(ny - py) <= 1 and abs(nx - px) <= 1) else 0
            if rank < best_rank:
                best_rank, best_y, best_x = rank, ny, nx
        if best_y < 0:
            return cy, cx, step, -1, dy_, dx_
        ppy, ppx = py, px
        py, px, cy, cx = cy, cx, best_y, best_x
    return cy, cx, max_len, 0, dy_, dx_


@njit(cache=True)
def trace_candidates(skel, cn, ys, xs, kinds, max_len, dir_len):
    """Per candidate and branch (≤ 3): stop point, length, stop kind and direction point."""
    n = len(ys)
    out = np.full((n, 3, 6), -1, np.int64)
    for i in range(n):
        y0, x0 = ys[i], xs[i]
        b = 0
        for k in range(8):
            k2 = _NEXT[k]
            a = np.int64(skel[y0 + _RING[k, 0], x0 + _RING[k, 1]])
            nxt = np.int64(skel[y0 + _RING[k2, 0], x0 + _RING[k2, 1]])
            if a == 0 and nxt == 1 and b < 3:  # a 0→1 transition starts a branch
                y1, x1 = y0 + _RING[k2, 0], x0 + _RING[k2, 1]
                r = _trace(skel, cn, y0, x0, y1, x1, max_len, dir_len)
                for j in range(6):
                    out[i, b, j] = r[j]
                b += 1
    return out


def find_candidates(skel: np.ndarray, mask: np.ndarray, margin: float) -> tuple[np.ndarray, ...]:
    cn = crossing_numbers(skel)
    # Padded with background: the image edge is an edge of the print too.
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    inside = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    ok = inside >= margin
    ys, xs = np.nonzero(((cn == 1) | (cn == 3)) & ok)
    kinds = np.where(cn[ys, xs] == 1, ENDING, BIFURCATION)
    return cn, ys.astype(np.int64), xs.astype(np.int64), kinds, inside


def extract_minutiae(
    skel: np.ndarray, mask: np.ndarray, theta: np.ndarray, coherence: np.ndarray, params: FingerMinutiaeParams
) -> RawMinutiae:
    cn, ys, xs, kinds, inside = find_candidates(skel, mask, params.border_margin_px)
    # Junction pixels often come in adjacent groups: keep one per 3 × 3 neighbourhood.
    keep = _dedupe(ys, xs, kinds == BIFURCATION, 2.0)
    ys, xs, kinds = ys[keep], xs[keep], kinds[keep]
    max_len = max(params.spur_length_px, params.short_ridge_px, params.direction_trace_px)
    traces = trace_candidates(skel, cn, ys, xs, kinds, max_len, params.direction_trace_px)
    n = len(ys)
    alive = np.ones(n, bool)
    angle = np.zeros(n, np.float64)
    pos = {(int(y), int(x)): i for i, (y, x) in enumerate(zip(ys, xs, strict=True))}
    for i in range(n):
        branches = [t for t in traces[i] if t[3] != -1 or t[2] > 0]
        branches = [t for t in branches if t[2] >= 0]
        if kinds[i] == ENDING:
            if not branches:
                alive[i] = False
                continue
            sy, sx, length, stop, dy, dx = branches[0]
            angle[i] = np.arctan2(ys[i] - dy, xs[i] - dx)
            if stop == 1 and length <= params.short_ridge_px:  # island / short ridge
                alive[i] = False
                j = pos.get((int(sy), int(sx)))
                if j is not None:
                    alive[j] = False
            elif stop == 3 and length <= params.spur_length_px:  # spur on a ridge
                alive[i] = False
                j = _nearest(ys, xs, kinds, sy, sx, BIFURCATION, 3.0)
                if j is not None:
                    alive[j] = False
        else:
            if len(branches) != 3:
                alive[i] = False
                continue
            vecs = np.array([(t[5] - xs[i], t[4] - ys[i]) for t in branches], np.float64)
            ang = np.arctan2(vecs[:, 1], vecs[:, 0])
            # The single branch is the one opposite the closest pair of the three.
            gaps = [abs(_wrap(ang[a] - ang[b])) for a, b in ((1, 2), (0, 2), (0, 1))]
            angle[i] = ang[int(np.argmin(gaps))]
            for t in branches:  # a bridge: another junction a few pixels away
                if t[3] == 3 and t[2] <= params.spur_length_px // 2:
                    alive[i] = False
    angle = _snap_to_field(angle, theta[ys, xs])
    alive &= coherence[ys, xs] >= params.min_coherence
    alive &= ~_broken_ridges(ys, xs, angle, kinds, alive, params)
    alive &= ~_clusters(ys, xs, alive, params.cluster_distance_px)
    ys, xs, kinds, angle = ys[alive], xs[alive], kinds[alive], angle[alive]
    quality = _quality(coherence[ys, xs], inside[ys, xs], params.border_margin_px)
    return RawMinutiae(
        xs.astype(np.float32),
        ys.astype(np.float32),
        (angle % (2 * np.pi)).astype(np.float32),
        kinds.astype(np.int32),
        quality,
    )


def _wrap(a: float | np.ndarray) -> float | np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _snap_to_field(traced: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The smoothed field is the more accurate direction; the trace says which way it points."""
    a, b = field.astype(np.float64), field.astype(np.float64) + np.pi
    return np.where(np.abs(_wrap(traced - a)) <= np.abs(_wrap(traced - b)), a, b)


def _dedupe(ys: np.ndarray, xs: np.ndarray, which: np.ndarray, radius: float) -> np.ndarray:
    keep = np.ones(len(ys), bool)
    idx = np.nonzero(which)[0]
    for a_pos, a in enumerate(idx):
        if not keep[a]:
            continue
        for b in idx[a_pos + 1 :]:
            if keep[b] and abs(ys[a] - ys[b]) <= radius and abs(xs[a] - xs[b]) <= radius:
                keep[b] = False
    return keep


def _nearest(ys, xs, kinds, y, x, kind, radius) -> int | None:
    d = np.hypot(ys - y, xs - x)
    d[kinds != kind] = np.inf
    j = int(np.argmin(d)) if len(d) else -1
    return j if j >= 0 and d[j] <= radius else None


def _broken_ridges(ys, xs, angle, kinds, alive, params: FingerMinutiaeParams) -> np.ndarray:
    """Pairs of endings facing each other across a short gap: one broken ridge, not two ends."""
    out = np.zeros(len(ys), bool)
    ends = np.nonzero(alive & (kinds == ENDING))[0]
    if len(ends) < 2:
        return out
    p = np.stack([xs[ends], ys[ends]], 1).astype(np.float64)
    d = np.hypot(p[:, None, 0] - p[None, :, 0], p[:, None, 1] - p[None, :, 1])
    tol = np.radians(params.gap_angle_deg)
    for a, b in zip(*np.nonzero(np.triu(d <= params.gap_distance_px, 1)), strict=True):
        ia, ib = ends[a], ends[b]
        facing = abs(_wrap(angle[ia] - angle[ib] - np.pi)) <= tol
        link = np.arctan2(ys[ib] - ys[ia], xs[ib] - xs[ia])  # a's direction should point at b
        if facing and abs(_wrap(angle[ia] - link)) <= tol:
            out[ia] = out[ib] = True
    return out


def _clusters(ys, xs, alive, radius: float) -> np.ndarray:
    out = np.zeros(len(ys), bool)
    idx = np.nonzero(alive)[0]
    if len(idx) < 2:
        return out
    p = np.stack([xs[idx], ys[idx]], 1).astype(np.float64)
    d = np.hypot(p[:, None, 0] - p[None, :, 0], p[:, None, 1] - p[None, :, 1])
    np.fill_diagonal(d, np.inf)
    out[idx[(d < radius).any(axis=1)]] = True
    return out


def _quality(coherence: np.ndarray, border_distance: np.ndarray, margin: float) -> np.ndarray:
    """0–100 from the local ridge coherence, lowered near the print's edge."""
    near_edge = np.clip(border_distance / (3.0 * margin), 0.0, 1.0)
    q = 100.0 * np.clip(coherence.astype(np.float64) / 0.8, 0.0, 1.0) * (0.5 + 0.5 * near_edge)
    return np.clip(np.round(q), 1, 100).astype(np.int32)
