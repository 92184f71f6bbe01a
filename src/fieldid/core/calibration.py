"""Score → false-match rate, measured on labelled data; thresholds that follow gallery size.

A raw similarity means nothing to an officer. A :class:`Calibration` is built from genuine
(same person) and impostor (different people) comparison scores of one model on one labelled
data set, and answers:

* ``fmr(s)``  — false-match rate: the fraction of impostor comparisons scoring ≥ s
  (ISO/IEC 19795-1), with a 95 % Clopper–Pearson interval on the count behind it;
* ``fnmr(s)`` — false non-match rate: the fraction of genuine comparisons scoring < s;
* ``llr(s)``  — log-likelihood ratio log(p(s | genuine) / p(s | impostor)), monotone
  (pool-adjacent-violators), for fusing modalities;
* ``threshold_for_fpir(fpir, n)`` — the score a gallery of n identities needs so that a
  search of someone not enrolled returns any candidate with probability ≤ fpir:
  FPIR = 1 − (1 − FMR)^n, hence FMR = 1 − (1 − FPIR)^(1/n).

Beyond the highest measured impostor score the FMR is extrapolated log-linearly from the
last two measured decades (impostor tails fall at least that fast, so the estimate errs high),
and the interval's upper end never drops below the rule-of-three bound 3/n. The
extrapolation stops ``MAX_EXTRAPOLATION_DECADES`` below the smallest FMR the impostor set can
resolve: a table built on 2 000 impostor pairs never claims an FMR under 5 × 10⁻⁶, however
high the score (a mated fingerprint can score far beyond every impostor, and a straight line
through the tail would then claim 10⁻²⁰, which nobody measured).

Pure: arrays in, values out. Files are read and written by :mod:`fieldid.calibration_io`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.stats import beta

#: Score grid resolution of a table.
GRID_POINTS = 2001
#: Counts below this are "thin": the point estimate is replaced by the tail model.
MIN_TAIL_COUNT = 20
#: How far (decades of FMR) the tail model is trusted below the smallest measurable FMR.
MAX_EXTRAPOLATION_DECADES = 2.0


@dataclass(frozen=True, eq=False)
class Calibration:
    model_id: str
    dataset: str
    created: str
    grid: np.ndarray  # ascending scores
    fmr_point: np.ndarray  # non-increasing
    fmr_low: np.ndarray
    fmr_high: np.ndarray
    fnmr_point: np.ndarray  # non-decreasing
    llr_grid: np.ndarray  # non-decreasing
    impostor_pairs: int
    genuine_pairs: int
    tail_slope: float  # d log10(FMR) / d score beyond the data (negative)
    tail_anchor: tuple[float, float]  # (score, log10 FMR) where extrapolation starts
    notes: dict[str, object] = field(default_factory=dict)
    #: Impostor comparisons' effective number when they are weighted (Kish); None = unweighted.
    effective_impostor_pairs: float | None = None
    #: Lowest FMR this table reports; None: MAX_EXTRAPOLATION_DECADES under the smallest
    #: measurable FMR (a fused table sets the product of its components' floors).
    extrapolation_floor: float | None = None

    @cached_property
    def version(self) -> str:
        """Content hash: two tables with the same numbers have the same version. The numbers
        are hashed at the 9 significant digits a calibration file stores, so a table keeps its
        version through saving and loading."""
        h = hashlib.sha256()
        h.update(self.model_id.encode())
        h.update(self.dataset.encode())
        for arr in (self.grid, self.fmr_point, self.fnmr_point, self.llr_grid):
            h.update(",".join(f"{float(x):.9g}" for x in np.asarray(arr, np.float64)).encode())
        return h.hexdigest()[:16]

    @cached_property
    def _log_fmr(self) -> np.ndarray:
        return np.log10(np.maximum(self.fmr_point, 1e-300))

    @property
    def min_measurable_fmr(self) -> float:
        """Smallest FMR the impostor set can resolve (one pair, or one effective pair)."""
        return 1.0 / max(1.0, self.effective_impostor_pairs or self.impostor_pairs)

    @property
    def fmr_floor(self) -> float:
        """The lowest FMR reported: the tail model is not trusted further (module docstring)."""
        if self.extrapolation_floor is not None:
            return self.extrapolation_floor
        return self.min_measurable_fmr * 10.0**-MAX_EXTRAPOLATION_DECADES

    # -- score → rates ---------------------------------------------------------------------
    def fmr(self, score: float | np.ndarray) -> np.ndarray | float:
        s = np.asarray(score, dtype=np.float64)
        log_fmr = np.interp(s, self.grid, self._log_fmr)
        anchor_score, anchor_log = self.tail_anchor
        beyond = s > anchor_score
        log_fmr = np.where(beyond, anchor_log + self.tail_slope * (s - anchor_score), log_fmr)
        out = np.clip(10.0**log_fmr, self.fmr_floor, 1.0)
        out = np.where(s < self.grid[0], 1.0, out)
        return float(out) if out.ndim == 0 else out

    def fmr_interval(self, score: float) -> tuple[float, float]:
        """95 % interval of the FMR at ``score`` from the impostor count behind it."""
        low = float(np.interp(score, self.grid, self.fmr_low))
        high = float(np.interp(score, self.grid, self.fmr_high))
        point = float(self.fmr(score))
        return min(low, point), max(high, point)

    def fnmr(self, score: float | np.ndarray) -> np.ndarray | float:
        out = np.interp(np.asarray(score, np.float64), self.grid, self.fnmr_point, left=0.0, right=1.0)
        return float(out) if np.ndim(out) == 0 else out

    def llr(self, score: float | np.ndarray) -> np.ndarray | float:
        out = np.interp(np.asarray(score, np.float64), self.grid, self.llr_grid)
        return float(out) if np.ndim(out) == 0 else out

    # -- thresholds ------------------------------------------------------------------------
    def threshold_at_fmr(self, target_fmr: float) -> float:
        """Lowest score whose FMR is ≤ ``target_fmr`` (extrapolating the tail if needed)."""
        if not 0.0 < target_fmr <= 1.0:
            raise ValueError("target FMR must be in (0, 1]")
        target_log = math.log10(target_fmr)
        anchor_score, anchor_log = self.tail_anchor
        if target_log < anchor_log and self.tail_slope < 0:
            return float(anchor_score + (target_log - anchor_log) / self.tail_slope)
        ok = np.nonzero(self.fmr_point <= target_fmr)[0]
        return float(self.grid[ok[0]]) if len(ok) else float(anchor_score)

    def threshold_for_fpir(self, target_fpir: float, gallery_size: int) -> tuple[float, float]:
        """(threshold, per-comparison FMR) for an open-set search of ``gallery_size`` identities."""
        fmr = fmr_for_fpir(target_fpir, gallery_size)
        return self.threshold_at_fmr(fmr), fmr


def fmr_for_fpir(target_fpir: float, gallery_size: int) -> float:
    """Per-comparison FMR giving an FPIR of ``target_fpir`` over ``gallery_size`` identities."""
    if not 0.0 < target_fpir < 1.0:
        raise ValueError("target FPIR must be in (0, 1)")
    n = max(1, int(gallery_size))
    return -math.expm1(math.log1p(-target_fpir) / n)


def fpir_at(fmr: float, gallery_size: int) -> float:
    """Chance that a search of ``gallery_size`` non-mated identities shows one at FMR ``fmr``."""
    return -math.expm1(max(1, gallery_size) * math.log1p(-min(max(fmr, 0.0), 1.0 - 1e-16)))


def expected_false_candidates(fmr: float, gallery_size: int) -> float:
    """Expected number of wrong people scoring at least this high in a gallery of this size."""
    return float(max(0, gallery_size) * fmr)


def build_calibration(
    genuine: np.ndarray,
    impostor: np.ndarray,
    *,
    model_id: str,
    dataset: str,
    created: str,
    score_range: tuple[float, float] | None = None,
    notes: dict[str, object] | None = None,
    genuine_weights: np.ndarray | None = None,
    impostor_weights: np.ndarray | None = None,
) -> Calibration:
    """Build a table from genuine and impostor score sets (higher score = more similar).

    Weights (optional, one per score) make the rates averages over something other than
    comparisons — :func:`identity_pair_weights` makes every pair of people count once, however
    many images each has. Intervals then use an effective sample size (``_effective_size``).
    """
    gen, gw = _sorted_weighted(genuine, genuine_weights)
    imp, iw = _sorted_weighted(impostor, impostor_weights)
    if len(gen) < 10 or len(imp) < 100:
        raise ValueError("need at least 10 genuine and 100 impostor scores to calibrate")
    if not (np.isfinite(gen).all() and np.isfinite(imp).all()):
        raise ValueError("scores must be finite")
    lo, hi = score_range or (min(gen[0], imp[0]), max(gen[-1], imp[-1]))
    span = hi - lo or 1.0
    grid = np.linspace(lo - 0.01 * span, hi + 0.01 * span, GRID_POINTS) if score_range is None else \
        np.linspace(lo, hi, GRID_POINTS)
    fmr_emp = 1.0 - _share_below(imp, iw, grid)
    fnmr = _share_below(gen, gw, grid)
    n_imp = _effective_size(iw)
    if n_imp < 100:
        raise ValueError(f"the impostor scores are worth {n_imp:.0f} independent comparisons (pairs of "
                         "people); at least 100 are needed (about 15 people or more)")
    imp_at_or_above = fmr_emp * n_imp  # effective counts (exact counts when unweighted)
    low, high = _clopper_pearson(imp_at_or_above, n_imp)

    slope, anchor = _tail_model(grid, imp_at_or_above, n_imp)
    anchor_score, anchor_log = anchor
    log_point = np.log10(np.maximum(fmr_emp, 1e-300))
    beyond = grid > anchor_score
    log_point = np.where(beyond, anchor_log + slope * (grid - anchor_score), log_point)
    point = np.minimum.accumulate(np.clip(10.0**log_point, 0.0, 1.0))
    # Interval ends made monotone in the conservative direction: the upper end is the largest
    # value at this or any higher score, so it never dips below the count-based bound.
    high = np.maximum.accumulate(np.maximum(high, point)[::-1])[::-1]
    low = np.minimum.accumulate(np.minimum(low, point))

    llr = _pav_llr(gen, imp, grid, gw, iw)
    return Calibration(
        model_id=model_id,
        dataset=dataset,
        created=created,
        grid=grid,
        fmr_point=point,
        fmr_low=low,
        fmr_high=high,
        fnmr_point=np.maximum.accumulate(fnmr),
        llr_grid=llr,
        impostor_pairs=len(imp),
        genuine_pairs=len(gen),
        effective_impostor_pairs=n_imp if impostor_weights is not None else None,
        tail_slope=slope,
        tail_anchor=anchor,
        notes=dict(notes or {}),
    )


def identity_pair_weights(n_a: np.ndarray, n_b: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Weights that make every pair of identities count once.

    A comparison of an image of A with an image of B weighs 1 / (n_A · n_B), where n is the
    number of images of that identity in the set; a genuine comparison (A = B) weighs
    1 / (n_A (n_A − 1) / 2). Without them people with many images dominate the rates (in LFW
    one person has 530 images), where a gallery holds each person once.
    """
    n_a, n_b = np.asarray(n_a, np.float64), np.asarray(n_b, np.float64)
    return np.where(same, 2.0 / np.maximum(n_a * (n_a - 1.0), 1.0), 1.0 / np.maximum(n_a * n_b, 1.0))


def _sorted_weighted(scores: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, np.float64).ravel()
    w = np.ones(len(s)) if weights is None else np.asarray(weights, np.float64).ravel()
    if len(w) != len(s) or (len(w) and (not np.isfinite(w).all() or w.min() < 0 or w.sum() <= 0)):
        raise ValueError("weights must be finite, non-negative, not all zero, one per score")
    order = np.argsort(s, kind="mergesort")
    return s[order], w[order]


def _share_below(sorted_scores: np.ndarray, weights: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Weighted share of scores < each grid value."""
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    return cum[np.searchsorted(sorted_scores, grid, side="left")] / cum[-1]


def _effective_size(weights: np.ndarray) -> float:
    """How many independent comparisons the weighted scores are worth, for the intervals:
    Kish's (Σw)² / Σw², but never more than Σw — weights are on the scale of independent
    units (``identity_pair_weights``: each pair of people weighs 1 in total), and many images
    of the same two people are not independent comparisons. Unweighted: the count itself."""
    total = float(weights.sum())
    return min(total * total / float(np.square(weights).sum()), total)


def _clopper_pearson(k: np.ndarray, n: float, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(k, np.float64)
    low = np.where(k > 0, beta.ppf(alpha / 2, np.maximum(k, 1), n - k + 1), 0.0)
    high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1)), 1.0)
    return np.nan_to_num(low), np.nan_to_num(high, nan=1.0)


def _tail_model(grid: np.ndarray, counts: np.ndarray, n: float) -> tuple[float, tuple[float, float]]:
    """Log-linear fit of log10 FMR over the last two well-measured decades.

    The anchor is the highest grid score whose count is still ≥ MIN_TAIL_COUNT; the fit
    covers scores from where FMR is 100× larger up to the anchor.
    """
    measured = np.nonzero(counts >= MIN_TAIL_COUNT)[0]
    if len(measured) == 0:
        raise ValueError("too few impostor scores to model the tail")
    a = measured[-1]
    anchor_fmr = counts[a] / n
    start_candidates = np.nonzero(counts / n <= min(1.0, anchor_fmr * 100))[0]
    s = start_candidates[0] if len(start_candidates) else 0
    xs = grid[s : a + 1]
    ys = np.log10(counts[s : a + 1] / n)
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope = float(np.polyfit(xs, ys, 1)[0])
    else:
        slope = -1.0 / max(np.ptp(grid), 1e-9)
    # The tail must fall; never extrapolate flatter than the fit over the whole measured range.
    slope = min(slope, -1e-6)
    return slope, (float(grid[a]), float(math.log10(anchor_fmr)))


def _pav_llr(gen: np.ndarray, imp: np.ndarray, grid: np.ndarray, gw: np.ndarray, iw: np.ndarray) -> np.ndarray:
    """Monotone log-likelihood ratio on the grid by pool-adjacent-violators.

    Scores are labelled (1 genuine, 0 impostor), PAV gives a non-decreasing posterior; with
    the data's prior removed it is the LLR. Both classes weigh the same in total.
    """
    scores = np.concatenate([gen, imp])
    labels = np.concatenate([np.ones(len(gen)), np.zeros(len(imp))])
    weights = np.concatenate([0.5 * gw / gw.sum(), 0.5 * iw / iw.sum()])
    order = np.argsort(scores, kind="mergesort")
    scores, labels, weights = scores[order], labels[order], weights[order]
    # Bin onto the grid first (keeps PAV linear in the grid size).
    bins = np.clip(np.searchsorted(grid, scores, side="right") - 1, 0, len(grid) - 1)
    w = np.bincount(bins, weights=weights, minlength=len(grid))
    wy = np.bincount(bins, weights=weights * labels, minlength=len(grid))
    keep = w > 0
    post = _pav(wy[keep] / w[keep], w[keep])
    xs = grid[keep]
    eps = 1e-6
    post = np.clip(post, eps, 1 - eps)
    llr_keep = np.log(post / (1 - post))
    llr = np.interp(grid, xs, llr_keep)
    return np.maximum.accumulate(llr)


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression by pool-adjacent-violators."""
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(y.tolist(), w.tolist()):
        means.append(value)
        weights.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, w2, n2 = means.pop(), weights.pop(), sizes.pop()
            m1, w1, n1 = means.pop(), weights.pop(), sizes.pop()
            total = w1 + w2
            means.append((m1 * w1 + m2 * w2) / total)
            weights.append(total)
            sizes.append(n1 + n2)
    return np.repeat(means, sizes)
