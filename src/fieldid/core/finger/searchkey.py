"""Fixed-length search keys for the vector index: a soft histogram of minutia pairs.

The vector index (unit float32 vectors, inner product) is the fast first pass of a 1:N
search; exact minutiae matching re-ranks its shortlist. A key must therefore bring a print's
mate near the top without knowing how the finger was turned or shifted: it counts pairs of
minutiae by their distance, the difference of their directions and the direction of the
line joining them (relative to the first minutia), all invariant to rotation and
translation (see :class:`~fieldid.core.params.FingerSearchKeyParams`).
"""

from __future__ import annotations

import numpy as np

from fieldid.core.params import FingerSearchKeyParams
from fieldid.types import FingerTemplate

_DEFAULT = FingerSearchKeyParams()
#: Dimension of the default search key (distance bins × angle bins²).
SEARCH_KEY_DIM = _DEFAULT.distance_bins * _DEFAULT.angle_bins**2


def search_key(template: FingerTemplate, params: FingerSearchKeyParams | None = None) -> np.ndarray:
    """Unit float32 vector of dimension ``distance_bins × angle_bins²`` (``SEARCH_KEY_DIM``)."""
    p = params or _DEFAULT
    nd, na = p.distance_bins, p.angle_bins
    m = np.asarray(template.minutiae, np.float64)
    scale = 500.0 / float(template.ppi or 500)
    x, y, a = m[:, 0] * scale, -m[:, 1] * scale, m[:, 2]  # y up: ISO angles are counter-clockwise
    dx, dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
    dist = np.hypot(dx, dy)
    i, j = np.nonzero((dist > p.min_distance) & (dist < p.max_distance))
    hist = np.zeros((nd, na, na))
    if len(i):
        two_pi = 2 * np.pi
        fd = (dist[i, j] - p.min_distance) / (p.max_distance - p.min_distance) * nd - 0.5
        fr = ((a[j] - a[i]) % two_pi) / two_pi * na - 0.5
        fq = ((np.arctan2(dy[i, j], dx[i, j]) - a[i]) % two_pi) / two_pi * na - 0.5
        for od in (0, 1):  # linear soft binning: each vote spread over 2 × 2 × 2 bins
            bd = np.floor(fd).astype(np.int64) + od
            wd = np.clip(1 - np.abs(fd - bd), 0, 1) * ((bd >= 0) & (bd < nd))
            for o_r in (0, 1):
                br = np.floor(fr).astype(np.int64) + o_r
                wr = 1 - np.abs(fr - br)
                for oq in (0, 1):
                    bq = np.floor(fq).astype(np.int64) + oq
                    wq = 1 - np.abs(fq - bq)
                    np.add.at(hist, (np.clip(bd, 0, nd - 1), br % na, bq % na), wd * wr * wq)
    key = np.sqrt(hist).reshape(nd, na * na)
    key -= key.mean(axis=1, keepdims=True)  # what every print has at that distance
    key = key.ravel()
    norm = float(np.linalg.norm(key))
    if norm < 1e-9:  # too few minutiae to describe: equally (un)like everything
        return np.full(key.shape, 1.0 / np.sqrt(key.size), np.float32)
    return (key / norm).astype(np.float32)
