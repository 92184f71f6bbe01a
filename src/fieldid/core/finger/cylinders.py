"""Minutia Cylinder-Code: a local, rotation- and translation-invariant description of
each minutia's neighbourhood (Cappelli, Ferrara & Maltoni, IEEE TPAMI 32(12), 2010).

A cylinder is a 3-D grid centred on a minutia and turned with it: ``ns × ns`` cells across
a disc of radius R, ``nd`` slices over the direction difference. A cell is 1 when enough
neighbouring minutiae, with a direction difference near the slice's, lie near the cell
(the bit variant, MCC16b). Cells outside the print (the minutiae's convex hull enlarged by
Ω) are invalid and not compared.

Frame: x right, y *up* (the image y negated), angles the ISO ones (counter-clockwise).
Bits are packed into uint64 words, ``ns²`` cells of one slice in ⌈ns²/64⌉ words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from fieldid.core.params import MccParams


@dataclass(frozen=True, eq=False)
class CylinderSet:
    """The valid cylinders of one template, ready to match."""

    xy: np.ndarray  # (n, 2) float64, 500 ppi px, y up
    angle: np.ndarray  # (n,) float64 ISO radians
    bits: np.ndarray  # (n, nd, words) uint64
    mask: np.ndarray  # (n, words) uint64 valid cells
    values: np.ndarray  # (n, nd · ns²) float32 cell sums before the threshold (search keys)

    @property
    def count(self) -> int:
        return int(self.xy.shape[0])


def words_per_slice(params: MccParams) -> int:
    return (params.ns * params.ns + 63) // 64


def empty_cylinders(params: MccParams) -> CylinderSet:
    w = words_per_slice(params)
    return CylinderSet(
        np.zeros((0, 2)),
        np.zeros(0),
        np.zeros((0, params.nd, w), np.uint64),
        np.zeros((0, w), np.uint64),
        np.zeros((0, params.nd * params.ns * params.ns), np.float32),
    )


def build_cylinders(minutiae: np.ndarray, ppi: int, params: MccParams) -> CylinderSet:
    """Cylinders of the best ``max_cylinders`` minutiae of an (n, 5) template array."""
    m = np.asarray(minutiae, np.float64)
    if len(m) > params.max_cylinders:
        order = np.argsort(-m[:, 4], kind="stable")[: params.max_cylinders]
        m = m[np.sort(order)]
    if len(m) < 2:
        return empty_cylinders(params)
    scale = 500.0 / float(ppi or 500)
    xy = np.stack([m[:, 0] * scale, -m[:, 1] * scale], axis=1)
    angle = m[:, 2] % (2 * np.pi)
    hull = _hull(xy)
    bits, mask, values, valid = _build(
        xy,
        angle,
        hull,
        params.radius,
        params.ns,
        params.nd,
        params.sigma_s,
        params.sigma_d,
        params.mu_psi,
        params.omega,
        params.min_valid_cells,
        params.min_m,
        words_per_slice(params),
    )
    return CylinderSet(xy[valid], angle[valid], bits[valid], mask[valid], values[valid])


def _hull(xy: np.ndarray) -> np.ndarray:
    """Convex hull vertices, counter-clockwise in the y-up frame."""
    if len(xy) < 3:
        return xy.copy()
    h = cv2.convexHull(xy.astype(np.float32), returnPoints=True).reshape(-1, 2).astype(np.float64)
    area2 = np.sum(h[:, 0] * np.roll(h[:, 1], -1) - np.roll(h[:, 0], -1) * h[:, 1])
    return h if area2 >= 0 else h[::-1].copy()


@njit(cache=True)
def _inside_hull(px, py, hull, omega):
    n = hull.shape[0]
    inside = n >= 3
    best = 1e18
    for i in range(n):
        ax, ay = hull[i, 0], hull[i, 1]
        bx, by = hull[(i + 1) % n, 0] if n > 1 else ax, hull[(i + 1) % n, 1] if n > 1 else ay
        ex, ey = bx - ax, by - ay
        if ex * (py - ay) - ey * (px - ax) < 0:
            inside = False
        length2 = ex * ex + ey * ey
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * ex + (py - ay) * ey) / length2))
        dx, dy = px - (ax + t * ex), py - (ay + t * ey)
        best = min(best, dx * dx + dy * dy)
    return inside or best <= omega * omega


@njit(cache=True)
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@njit(cache=True)
def _build(xy, angle, hull, radius, ns, nd, sigma_s, sigma_d, mu_psi, omega, min_valid, min_m, words):
    n = xy.shape[0]
    cells = ns * ns
    bits = np.zeros((n, nd, words), np.uint64)
    mask = np.zeros((n, words), np.uint64)
    values = np.zeros((n, nd * cells), np.float32)
    valid = np.zeros(n, np.bool_)
    delta_s = 2.0 * radius / ns
    delta_d = 2.0 * math.pi / nd
    norm_s = 1.0 / (sigma_s * math.sqrt(2.0 * math.pi))
    reach = 3.0 * sigma_s
    root2 = math.sqrt(2.0) * sigma_d
    # The direction term depends only on the two minutiae, not on the cell: tabulate it.
    direction = np.zeros((n, n, nd))
    for i in range(n):
        for t in range(n):
            dtheta = _wrap(angle[i] - angle[t])
            for k in range(nd):
                d = _wrap(-math.pi + (k + 0.5) * delta_d - dtheta)
                direction[i, t, k] = 0.5 * (
                    math.erf((d + delta_d / 2.0) / root2) - math.erf((d - delta_d / 2.0) / root2)
                )
    for i in range(n):
        cx, cy, th = xy[i, 0], xy[i, 1], angle[i]
        c, s = math.cos(th), math.sin(th)
        # Only minutiae within reach of the disc can touch any of its cells.
        near = np.empty(n, np.int64)
        neighbours = 0
        count = 0
        for t in range(n):
            if t != i:
                dx, dy = xy[t, 0] - cx, xy[t, 1] - cy
                if dx * dx + dy * dy <= (radius + reach) ** 2:
                    near[count] = t
                    count += 1
        neighbours = count
        valid_cells = 0
        for a in range(ns):
            for b in range(ns):
                u = (a - (ns - 1) / 2.0) * delta_s
                v = (b - (ns - 1) / 2.0) * delta_s
                if u * u + v * v > radius * radius:
                    continue
                px = cx + c * u - s * v
                py = cy + s * u + c * v
                if not _inside_hull(px, py, hull, omega):
                    continue
                cell = a * ns + b
                mask[i, cell >> 6] |= np.uint64(1) << np.uint64(cell & 63)
                valid_cells += 1
                for q in range(count):
                    t = near[q]
                    dx, dy = xy[t, 0] - px, xy[t, 1] - py
                    d2 = dx * dx + dy * dy
                    if d2 > reach * reach:
                        continue
                    cs = norm_s * math.exp(-d2 / (2.0 * sigma_s * sigma_s))
                    for k in range(nd):
                        values[i, k * cells + cell] += cs * direction[i, t, k]
                for k in range(nd):
                    if values[i, k * cells + cell] >= mu_psi:
                        bits[i, k, cell >> 6] |= np.uint64(1) << np.uint64(cell & 63)
        valid[i] = valid_cells >= min_valid * cells * (math.pi / 4.0) and neighbours >= min_m
    return bits, mask, values, valid
