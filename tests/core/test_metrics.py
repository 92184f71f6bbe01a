"""Evaluation metrics against hand-computed answers."""

import numpy as np
import pytest

from fieldid.eval import metrics


def test_fmr_fnmr_at_threshold():
    gen = np.array([0.5, 0.6, 0.7, 0.8])
    imp = np.array([0.1, 0.2, 0.3, 0.6])
    assert metrics.fmr_at(imp, np.array([0.3]))[0] == 0.5  # 0.3 and 0.6 are ≥ 0.3
    assert metrics.fnmr_at(gen, np.array([0.65]))[0] == 0.5


def test_eer_of_separable_and_overlapping():
    assert metrics.eer(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 0.0
    rng = np.random.default_rng(0)
    gen, imp = rng.normal(1, 1, 200_000), rng.normal(-1, 1, 200_000)
    # two unit Gaussians 2 apart cross at 0: EER = Φ(−1) ≈ 0.1587
    assert metrics.eer(gen, imp) == pytest.approx(0.1587, abs=0.003)


def test_threshold_and_fnmr_at_fmr():
    imp = np.arange(1000) / 1000.0
    t = metrics.threshold_at_fmr(imp, 0.01)
    assert metrics.fmr_at(imp, np.array([t]))[0] <= 0.01
    assert metrics.fnmr_at_fmr(np.array([2.0, 0.5]), imp, 0.01) == 0.5


def test_fold_accuracies_learn_threshold_elsewhere():
    scores = np.array([0.9, 0.8, 0.2, 0.1] * 3)
    same = np.array([1, 1, 0, 0] * 3, bool)
    folds = np.repeat([0, 1, 2], 4)
    accs, thresholds = metrics.fold_accuracies(scores, same, folds)
    assert accs == [1.0, 1.0, 1.0]
    assert all(0.2 < t < 0.8 for t in thresholds)


def test_open_set_rank_and_fnir():
    gallery = ["a", "b", "c"]
    probes = ["a", "b", "x"]  # x is not enrolled
    scores = np.array([
        [0.9, 0.1, 0.2],   # a: rank 1
        [0.5, 0.4, 0.1],   # b: rank 2
        [0.3, 0.2, 0.25],  # non-mated, top 0.3
    ])
    r = metrics.open_set(scores, gallery, probes, fpir_targets=(0.5,), list_length=1)
    assert r.rank1 == 0.5 and r.cmc[1] == 1.0
    assert r.mated_searches == 2 and r.nonmated_searches == 1
    # FPIR 0.5 with one non-mated search → threshold just above 0.3; a passes, b is rank 2
    assert r.fnir_at_fpir["0.5"] == 0.5


def test_identity_scores_take_best_template():
    s = np.array([[0.1, 0.7, 0.3]])
    out, labels = metrics.identity_scores(s, ["a", "b", "a"])
    assert labels == ["a", "b"] and out.tolist() == [[0.3, 0.7]]


def test_all_pair_scores_counts():
    v = np.eye(4, dtype=np.float32)
    gen, imp = metrics.all_pair_scores(v, ["a", "a", "b", "c"], chunk=3)
    assert len(gen) == 1 and len(imp) == 5


def test_recall_at_k():
    assert metrics.recall_at_k(np.array([[1, 2, 3]]), np.array([[1, 3, 4]]), 3) == pytest.approx(2 / 3)


def test_calibration_check():
    imp = np.linspace(0, 1, 1001)
    rows = metrics.calibration_check({0.1: 0.9, 0.01: 0.99}, imp)
    assert rows[0].predicted_fmr == 0.1 and rows[0].observed_fmr == pytest.approx(101 / 1001)


def test_weighted_pair_scores_count_every_pair_of_people_once():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(9, 8)).astype(np.float32)
    labels = ["a"] * 5 + ["b"] * 2 + ["c", "d"]  # "a" is prolific
    scores = metrics.weighted_pair_scores(v, labels, chunk=4)
    gen, imp = metrics.all_pair_scores(v, labels)
    np.testing.assert_allclose(np.sort(scores.genuine), np.sort(gen), rtol=1e-5)
    assert len(scores.impostor) == len(imp)
    # every identity pair weighs 1 in total (6 pairs of people), every identity's genuine pairs too
    assert scores.impostor_weights.sum() == pytest.approx(6.0)
    assert scores.genuine_weights.sum() == pytest.approx(2.0)  # a and b have genuine pairs
    assert np.isclose(scores.impostor_weights, 1 / 5).sum() == 10  # the 5 images of a against c and d


def test_weighted_calibration_check():
    imp = np.array([0.1, 0.2, 0.95, 0.96])
    # the two high scores come from one prolific pair of people (weight 1/2 each)
    rows = metrics.calibration_check({0.5: 0.9}, imp, np.array([1.0, 1.0, 0.5, 0.5]))
    assert rows[0].observed_fmr == pytest.approx(1 / 3) and rows[0].impostor_at_or_above == 2
