"""Pure fusion: LLR sums and the convolved calibration of the sum."""

from __future__ import annotations

import numpy as np
import pytest

from fieldid.core.calibration import build_calibration
from fieldid.core.fusion import fuse_calibrations, fused_score


def _cal(seed: int, sep: float, name: str):
    rng = np.random.default_rng(seed)
    gen = np.clip(rng.normal(0.5 + sep, 0.12, 3000), 0, 1)
    imp = np.clip(rng.normal(0.5, 0.1, 200_000), 0, 1)
    return build_calibration(gen, imp, model_id=name, dataset="synthetic", created="2026-01-01", score_range=(0, 1))


@pytest.fixture(scope="module")
def cals():
    return _cal(1, 0.3, "a"), _cal(2, 0.25, "b")


def test_one_component_keeps_its_fmr(cals):
    a = cals[0]
    fused = fuse_calibrations([a])
    for s in (0.6, 0.7, 0.75, 0.8):
        # the fused table sees the score only through its LLR (PAV steps): close, never lower by much
        assert fused.fmr(fused_score([a], [s])) == pytest.approx(a.fmr(s), rel=0.6)


def test_fused_fmr_matches_simulated_independent_impostors(cals):
    a, b = cals
    fused = fuse_calibrations([a, b])
    rng = np.random.default_rng(7)
    n = 400_000
    sa, sb = np.clip(rng.normal(0.5, 0.1, n), 0, 1), np.clip(rng.normal(0.5, 0.1, n), 0, 1)
    sums = a.llr(sa) + b.llr(sb)
    for t in (0.0, 2.0, 4.0):
        observed = float(np.mean(sums >= t))
        predicted = float(fused.fmr(t))
        assert predicted >= observed * 0.7, (t, observed, predicted)  # errs high, not low
        assert predicted <= observed * 2.0 + 1e-5, (t, observed, predicted)


def test_fused_table_is_monotone_with_an_interval(cals):
    fused = fuse_calibrations(list(cals))
    assert np.all(np.diff(fused.fmr_point) <= 1e-15)
    assert np.all(fused.fmr_low <= fused.fmr_point + 1e-15) and np.all(fused.fmr_point <= fused.fmr_high + 1e-15)
    assert np.all(np.diff(fused.fnmr_point) >= -1e-15)
    assert fused.notes["components"][0]["model_id"] == "a"
    # thresholds for a gallery size come out of the fused table like any other
    threshold, fmr = fused.threshold_for_fpir(0.01, 10_000)
    assert fused.fmr(threshold) <= fmr * 1.01


def test_missing_comparison_adds_nothing(cals):
    a, b = cals
    assert fused_score([a, b], [0.8, None]) == pytest.approx(float(a.llr(0.8)))
    with pytest.raises(ValueError):
        fused_score([a], [0.1, 0.2])
    with pytest.raises(ValueError):
        fuse_calibrations([])


def test_fused_floor_is_the_product_of_the_components_floors(cals):
    a, b = cals
    fused = fuse_calibrations([a, b])
    assert fused.fmr_floor == pytest.approx(a.fmr_floor * b.fmr_floor)
    assert fused.fmr(fused.grid[-1] + 100.0) == pytest.approx(fused.fmr_floor)
    # two independent pieces of evidence may be stronger than either table could show alone
    assert fused.fmr_floor < min(a.fmr_floor, b.fmr_floor)
