"""Calibration on synthetic score distributions with known answers."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from fieldid.core.calibration import (
    build_calibration,
    expected_false_candidates,
    fmr_for_fpir,
    fpir_at,
)

SIGMA = 0.1


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(1)
    impostor = rng.normal(0.0, SIGMA, 2_000_000)
    genuine = rng.normal(0.6, SIGMA, 20_000)
    return build_calibration(genuine, impostor, model_id="synthetic@1", dataset="gauss", created="2026-01-01",
                             score_range=(-1.0, 1.0))


def true_fmr(t):
    return norm.sf(t / SIGMA)


@pytest.mark.parametrize("t", [0.0, 0.1, 0.2, 0.3, 0.35])
def test_fmr_matches_known_distribution(cal, t):
    assert cal.fmr(t) == pytest.approx(true_fmr(t), rel=0.15)
    low, high = cal.fmr_interval(t)
    assert low <= true_fmr(t) * 1.05 and high >= true_fmr(t) * 0.95


@pytest.mark.parametrize("t", [0.3, 0.5, 0.6])
def test_fnmr_matches_known_distribution(cal, t):
    assert cal.fnmr(t) == pytest.approx(norm.cdf((t - 0.6) / SIGMA), abs=0.01)


def test_monotone_everywhere(cal):
    grid = np.linspace(-1.2, 1.2, 5000)
    fmr = cal.fmr(grid)
    assert np.all(np.diff(fmr) <= 1e-15)
    assert np.all(np.diff(cal.fnmr(grid)) >= 0)
    assert np.all(np.diff(cal.llr(grid)) >= 0)
    assert np.all(np.diff(cal.fmr_high) <= 0) and np.all(np.diff(cal.fmr_low) <= 0)


def test_tail_extrapolation_is_conservative(cal):
    # Beyond the data (2M impostors resolve FMR ~ 1e-5 with 20 counts), the log-linear tail
    # must not claim a smaller FMR than the true Gaussian tail.
    for t in (0.5, 0.55, 0.6):
        assert cal.fmr(t) >= true_fmr(t)
        assert cal.fmr(t) < 1e-4
    # and the interval's upper end never goes below the count-based bound
    assert cal.fmr_interval(0.9)[1] >= 1.0 / cal.impostor_pairs


def test_extrapolation_stops_two_decades_below_what_was_measured(cal):
    floor = cal.min_measurable_fmr / 100
    assert cal.fmr_floor == pytest.approx(floor)
    assert cal.fmr(5.0) == pytest.approx(floor)  # far beyond every impostor: no 1e-40 claims
    assert cal.fmr(cal.tail_anchor[0]) > floor
    assert np.all(cal.fmr(np.linspace(-1, 10, 500)) >= floor)
    low, high = cal.fmr_interval(5.0)
    assert low <= floor <= high


def test_threshold_at_fmr_inverts_fmr(cal):
    for target in (1e-2, 1e-3, 1e-4, 1e-6):
        t = cal.threshold_at_fmr(target)
        assert cal.fmr(t) <= target * 1.01
        assert cal.fmr(t - 0.01) > target * 0.99


def test_fpir_relation_and_threshold_grows_with_gallery(cal):
    assert fmr_for_fpir(0.01, 1) == pytest.approx(0.01)
    fmr = fmr_for_fpir(0.01, 1_000_000)
    assert fpir_at(fmr, 1_000_000) == pytest.approx(0.01, rel=1e-9)
    assert fmr == pytest.approx(-math.log(0.99) / 1e6, rel=1e-3)
    thresholds = [cal.threshold_for_fpir(0.01, n)[0] for n in (10, 1_000, 100_000, 10_000_000)]
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == 4


def test_expected_false_candidates():
    assert expected_false_candidates(1e-4, 50_000) == pytest.approx(5.0)
    assert expected_false_candidates(1e-6, 0) == 0.0


def test_llr_sign(cal):
    assert cal.llr(0.0) < 0 < cal.llr(0.6)
    assert cal.llr(0.3) == pytest.approx(0.0, abs=0.7)  # equal densities half-way (equal variances)


def test_version_depends_on_content(cal):
    rng = np.random.default_rng(2)
    other = build_calibration(rng.normal(0.6, 0.1, 500), rng.normal(0, 0.1, 5000), model_id="synthetic@1",
                              dataset="gauss", created="2026-01-01", score_range=(-1.0, 1.0))
    assert cal.version != other.version and len(cal.version) == 16


def test_rejects_too_few_scores():
    with pytest.raises(ValueError):
        build_calibration(np.ones(5), np.zeros(1000), model_id="m", dataset="d", created="x")
    with pytest.raises(ValueError):
        build_calibration(np.ones(50), np.array([0.0] * 200 + [np.nan]), model_id="m", dataset="d", created="x")


def test_identity_pair_weights():
    from fieldid.core.calibration import identity_pair_weights

    w = identity_pair_weights(np.array([4, 4, 1]), np.array([2, 4, 1]), np.array([False, True, False]))
    assert w.tolist() == pytest.approx([1 / 8, 1 / 6, 1.0])


def test_weighted_table_equals_the_table_of_distinct_pairs():
    """Repeating a comparison m times with weight 1/m changes nothing: the rates are those of
    the distinct pairs (what identity-pair weighting does for people with many images)."""
    from fieldid.calibration_io import calibration_from_dict, calibration_to_dict

    rng = np.random.default_rng(2)
    impostor = rng.normal(0.0, SIGMA, 20_000)
    genuine = rng.normal(0.6, SIGMA, 2_000)
    times = rng.integers(1, 30, len(impostor))  # some pairs repeated many times
    repeated = np.repeat(impostor, times)
    kwargs = {"model_id": "synthetic@1", "dataset": "gauss", "created": "2026-01-01", "score_range": (-1.0, 1.0)}
    plain = build_calibration(genuine, impostor, **kwargs)
    weighted = build_calibration(genuine, repeated, impostor_weights=1.0 / np.repeat(times, times), **kwargs)
    skewed = build_calibration(genuine, repeated, **kwargs)
    # where both are measured (not extrapolated: the tail model starts where the effective
    # count, smaller with weights, runs out) the rates are the distinct pairs' exactly
    for t in (-0.1, 0.0, 0.1, 0.2):
        assert weighted.fmr(t) == pytest.approx(plain.fmr(t), rel=1e-9)
    np.testing.assert_allclose(weighted.fnmr_point, plain.fnmr_point)
    assert abs(skewed.fmr(0.2) / plain.fmr(0.2) - 1) > 0.01  # without weights the repeats count
    # repeats add no information: the effective size is at most the distinct pairs' count
    assert weighted.effective_impostor_pairs == pytest.approx(len(impostor))
    assert weighted.min_measurable_fmr == pytest.approx(1 / weighted.effective_impostor_pairs)
    assert plain.effective_impostor_pairs is None and plain.min_measurable_fmr == 1 / len(impostor)
    again = calibration_from_dict(calibration_to_dict(weighted))
    assert again.effective_impostor_pairs == pytest.approx(weighted.effective_impostor_pairs)
    assert again.version == weighted.version
    with pytest.raises(ValueError):
        build_calibration(genuine, impostor, impostor_weights=np.ones(3), **kwargs)
