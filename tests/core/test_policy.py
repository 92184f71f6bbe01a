"""The decision policy: quality floor, threshold, investigative lists, wording by numbers."""

import numpy as np
import pytest

from fieldid.core.calibration import build_calibration
from fieldid.core.policy import (
    Hit,
    Outcome,
    Strength,
    Tier,
    decide,
    operating_point,
    strength_of,
)
from fieldid.types import QualityIssue, QualityReport

GOOD = QualityReport(score=90.0)
BAD = QualityReport(score=10.0, issues=(QualityIssue("blurred", "Image blurred.", True),))


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(3)
    return build_calibration(rng.normal(0.7, 0.08, 5000), rng.normal(0.0, 0.1, 500_000), model_id="m@1",
                             dataset="synthetic", created="2026-01-01", score_range=(-1.0, 1.0))


def test_under_quality_returns_no_candidates_and_reasons(cal):
    point = operating_point(cal, 0.01, 1000)
    d = decide(cal, [Hit("a", 0.99)], BAD, point, top_k=5)
    assert d.outcome is Outcome.UNDER_QUALITY
    assert d.candidates == ()
    assert any("blurred" in r.lower() for r in d.reasons)


def test_no_candidate_above_threshold_never_says_not_enrolled(cal):
    point = operating_point(cal, 0.01, 1000)
    d = decide(cal, [Hit("a", point.threshold - 0.05)], GOOD, point, top_k=5)
    assert d.outcome is Outcome.NO_CANDIDATE and d.candidates == ()
    text = " ".join(d.reasons).lower()
    assert "does not mean the person is not enrolled" in text
    assert "not in the database" not in text


def test_only_candidates_at_or_above_threshold_are_shown(cal):
    point = operating_point(cal, 0.01, 1000)
    hits = [Hit("a", point.threshold + 0.2), Hit("b", point.threshold + 0.01), Hit("c", point.threshold - 0.01)]
    d = decide(cal, hits, GOOD, point, top_k=5)
    assert d.outcome is Outcome.CANDIDATES
    assert [c.key for c in d.candidates] == ["a", "b"]
    assert all(c.tier is Tier.CANDIDATE for c in d.candidates)
    assert [c.rank for c in d.candidates] == [1, 2]


def test_investigative_list_labels_leads(cal):
    point = operating_point(cal, 0.01, 1000)
    hits = [Hit("a", point.threshold + 0.1), Hit("c", point.threshold - 0.2)]
    d = decide(cal, hits, GOOD, point, top_k=5, investigative=True)
    assert d.outcome is Outcome.INVESTIGATIVE_LIST
    assert [c.tier for c in d.candidates] == [Tier.CANDIDATE, Tier.INVESTIGATIVE_LEAD]
    assert any("leads only" in r for r in d.reasons)


def test_expected_false_candidates_scale_with_gallery(cal):
    small = operating_point(cal, 0.01, 100)
    large = operating_point(cal, 0.01, 1_000_000)
    assert large.threshold > small.threshold
    s = 0.45
    a = decide(cal, [Hit("a", s)], GOOD, small, top_k=1, investigative=True).candidates[0]
    b = decide(cal, [Hit("a", s)], GOOD, large, top_k=1, investigative=True).candidates[0]
    assert a.fmr == b.fmr
    assert a.expected_false_candidates == pytest.approx(100 * a.fmr)
    assert b.expected_false_candidates == pytest.approx(1_000_000 * b.fmr)
    # same score, bigger gallery: weaker wording
    order = list(Strength)
    assert order.index(b.strength) >= order.index(a.strength)
    assert "1,000,000" in b.explanation and "100 enrolled" in a.explanation


def test_strength_depends_on_expected_count_not_score():
    assert strength_of(1e-4) is Strength.STRONG
    assert strength_of(0.005) is Strength.MODERATE
    assert strength_of(0.05) is Strength.LIMITED
    assert strength_of(0.5) is Strength.WEAK


def test_top_k_and_order(cal):
    point = operating_point(cal, 0.01, 10)
    hits = [Hit(str(i), 0.9 - i * 0.01) for i in range(20)]
    d = decide(cal, list(reversed(hits)), GOOD, point, top_k=3)
    assert [c.key for c in d.candidates] == ["0", "1", "2"]
