"""Score fusion, pure: face and finger scores (and several fingers) as one calibrated score.

Each comparison's raw score is turned into a log-likelihood ratio by its own calibration
(``Calibration.llr``: genuine vs impostor, from labelled data); the fused score of a candidate
is the **sum of the LLRs** of the comparisons made (a modality the candidate has no template
for adds nothing). Under independence of the comparisons, that sum is the optimal
(Neyman-Pearson) combination.

A fused score needs its own FMR, the chance that a *different* person reaches that sum. With
independent comparisons the impostor distribution of the sum is the convolution of the
components' impostor LLR distributions, each read off its calibration table (the mass between
two grid scores sits at the LLR of the lower one). The same is done with the components'
FMR interval ends (a stochastically larger variable per component gives a larger sum), so the
fused table keeps an interval, and with the FNMR curves for the genuine side. The result is a
:class:`~fieldid.core.calibration.Calibration` whose score is the LLR sum, so the decision
policy (thresholds per gallery size, strength bands) applies to fused searches unchanged.

Independence is an assumption (two fingers of one person are correlated in print quality);
the fused table says so in its notes, and its FMR interval is never tighter than what the
components' impostor counts support.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldid.core.calibration import Calibration

#: Width of the LLR bins the distributions are convolved on (natural-log units).
FUSION_BIN = 0.02
#: Floor below which fused FMRs are not resolved (the table stops there).
FMR_FLOOR = 1e-15


def fused_score(calibrations: Sequence[Calibration], scores: Sequence[float | None]) -> float:
    """Sum of the components' LLRs; a missing comparison (None) contributes nothing."""
    if len(calibrations) != len(scores):
        raise ValueError("one score per calibration")
    return float(sum(float(c.llr(s)) for c, s in zip(calibrations, scores, strict=True) if s is not None))


def fuse_calibrations(calibrations: Sequence[Calibration], *, model_id: str = "fused") -> Calibration:
    """The calibration of the LLR sum of independent comparisons, one per calibration given."""
    if not calibrations:
        raise ValueError("nothing to fuse")
    lo = sum(float(c.llr_grid[0]) for c in calibrations)
    hi = sum(float(c.llr_grid[-1]) for c in calibrations)
    bins = int(round((hi - lo) / FUSION_BIN)) + 1 + len(calibrations)  # room for rounding up
    grid = lo + FUSION_BIN * np.arange(bins)

    def convolved(masses_of, up: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
        total = np.ones(1)
        for c in calibrations:
            total = np.convolve(total, _binned(c, masses_of(c), up))
        out = np.zeros(bins)
        out[: min(bins, len(total))] = total[:bins]
        return out

    # Impostor mass is rounded up to the next bin and genuine mass down: both err towards
    # reporting a higher FMR and FNMR than the exact sum would have.
    imp_point = _survival(convolved(lambda c: _impostor_masses(c.fmr_point), True))
    imp_high = _survival(convolved(lambda c: _impostor_masses(c.fmr_high), True))
    imp_low = _survival(convolved(lambda c: _impostor_masses(c.fmr_low), False))
    gen = convolved(lambda c: _genuine_masses(c.fnmr_point), False)
    fnmr = np.concatenate([[0.0], np.cumsum(gen)[:-1]])  # P(genuine sum < t)

    point = np.minimum.accumulate(np.maximum(imp_point, FMR_FLOOR))
    high = np.maximum.accumulate(np.maximum(imp_high, point)[::-1])[::-1]
    low = np.minimum.accumulate(np.minimum(np.maximum(imp_low, 0.0), point))
    # Extrapolation beyond the last resolved value: as steep as the table's last decade.
    resolved = np.nonzero(point > FMR_FLOOR)[0]
    a = int(resolved[-1]) if len(resolved) else 0
    decade = np.nonzero(point >= point[a] * 10)[0]
    s = int(decade[-1]) if len(decade) else 0
    slope = (np.log10(point[a]) - np.log10(point[s])) / max(grid[a] - grid[s], FUSION_BIN) if a > s else -10.0
    return Calibration(
        model_id=model_id,
        dataset=" + ".join(c.dataset for c in calibrations),
        created=max(c.created for c in calibrations),
        grid=grid,
        fmr_point=point,
        fmr_low=low,
        fmr_high=high,
        fnmr_point=np.clip(np.maximum.accumulate(fnmr), 0.0, 1.0),
        llr_grid=grid.copy(),  # the fused score is an LLR already
        impostor_pairs=min(c.impostor_pairs for c in calibrations),
        genuine_pairs=min(c.genuine_pairs for c in calibrations),
        tail_slope=float(min(slope, -1e-6)),
        tail_anchor=(float(grid[a]), float(np.log10(point[a]))),
        extrapolation_floor=float(np.prod([c.fmr_floor for c in calibrations])),
        notes={
            "fusion": "sum of log-likelihood ratios; impostor and genuine distributions of the sum "
            "convolved assuming the comparisons are independent",
            "components": [{"model_id": c.model_id, "version": c.version, "dataset": c.dataset}
                           for c in calibrations],
        },
    )


def _impostor_masses(survival: np.ndarray) -> np.ndarray:
    """Masses per grid point of a variable whose P(score ≥ grid[i]) is ``survival``."""
    s = np.clip(np.minimum.accumulate(np.asarray(survival, np.float64)), 0.0, 1.0)
    masses = np.append(s[:-1] - s[1:], s[-1])
    masses[0] += 1.0 - s[0]  # below the grid: at the lowest LLR
    return masses


def _genuine_masses(fnmr: np.ndarray) -> np.ndarray:
    """Masses per grid point of a variable whose P(score < grid[i]) is ``fnmr``."""
    f = np.clip(np.maximum.accumulate(np.asarray(fnmr, np.float64)), 0.0, 1.0)
    masses = np.append(f[1:] - f[:-1], 1.0 - f[-1])
    masses[0] += f[0]
    return masses


def _binned(cal: Calibration, masses: np.ndarray, up: bool) -> np.ndarray:
    """The masses moved to their LLR values, on bins of FUSION_BIN from the lowest LLR,
    rounded up or down."""
    steps = (cal.llr_grid - cal.llr_grid[0]) / FUSION_BIN
    idx = (np.ceil(steps - 1e-9) if up else np.floor(steps + 1e-9)).astype(np.int64)
    return np.bincount(idx, weights=masses, minlength=int(idx[-1]) + 1)


def _survival(masses: np.ndarray) -> np.ndarray:
    """P(sum ≥ grid[i]) from the masses per bin."""
    return np.clip(np.cumsum(masses[::-1])[::-1], 0.0, 1.0)
