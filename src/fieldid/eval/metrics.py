"""Biometric error metrics (ISO/IEC 19795-1 naming), pure: arrays in, values out.

Scores are similarities: higher means more alike. A comparison "matches" at threshold t when
its score is ≥ t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fieldid.core.calibration import identity_pair_weights


def _sorted(a: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(a, dtype=np.float64).ravel())


def fmr_at(impostor: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    imp = _sorted(impostor)
    return (len(imp) - np.searchsorted(imp, thresholds, side="left")) / max(1, len(imp))


def fnmr_at(genuine: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    gen = _sorted(genuine)
    return np.searchsorted(gen, thresholds, side="left") / max(1, len(gen))


def det_curve(genuine: np.ndarray, impostor: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, FNMR) at up to ``points`` thresholds spanning every observed score."""
    all_scores = np.unique(np.concatenate([np.ravel(genuine), np.ravel(impostor)]).astype(np.float64))
    if len(all_scores) > points:  # np.unique sorted them: pick evenly spaced order statistics
        all_scores = all_scores[np.linspace(0, len(all_scores) - 1, points).round().astype(np.int64)]
    thresholds = np.concatenate([all_scores, [np.inf]])
    return thresholds, fmr_at(impostor, thresholds), fnmr_at(genuine, thresholds)


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate: where FMR and FNMR cross (linear interpolation between thresholds)."""
    thresholds, fmr, fnmr = det_curve(genuine, impostor, points=100_000)
    diff = fmr - fnmr  # falls from +1 to −1
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float((fmr[0] + fnmr[0]) / 2)
    d0, d1 = diff[i - 1], diff[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float(fmr[i - 1] + w * (fmr[i] - fmr[i - 1]) + fnmr[i - 1] + w * (fnmr[i] - fnmr[i - 1])) / 2


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """Lowest threshold whose measured FMR is ≤ target."""
    imp = _sorted(impostor)
    allowed = int(np.floor(target * len(imp)))  # impostor scores allowed at or above t
    if allowed >= len(imp):
        return float(imp[0])
    # t just above the (allowed+1)-th highest impostor score
    return float(np.nextafter(imp[len(imp) - allowed - 1], np.inf))


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, target: float) -> float:
    return float(fnmr_at(genuine, np.array([threshold_at_fmr(impostor, target)]))[0])


def fold_accuracies(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[list[float], list[float]]:
    """LFW protocol: per fold, accuracy at the threshold that maximises accuracy on the other folds.

    Returns (accuracies, thresholds) per fold.
    """
    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds)
    accs, thresholds = [], []
    for fold in np.unique(folds):
        train = folds != fold
        t = best_accuracy_threshold(scores[train], same[train])
        test = ~train
        accs.append(float(((scores[test] >= t) == same[test]).mean()))
        thresholds.append(t)
    return accs, thresholds


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    order = np.argsort(scores)
    s, y = scores[order], same[order].astype(int)
    # threshold between s[i-1] and s[i]: predicted same for indices ≥ i
    correct = np.concatenate([[0], np.cumsum(1 - y)]) + np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


@dataclass(frozen=True)
class OpenSetResult:
    rank1: float
    rank10: float
    cmc: list[float]  # identification rate at ranks 1..len
    fnir_at_fpir: dict[str, float | None]
    thresholds_at_fpir: dict[str, float | None]
    mated_searches: int
    nonmated_searches: int
    gallery_size: int
    curve_fpir: list[float]
    curve_fnir: list[float]


def identity_scores(scores: np.ndarray, gallery_labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Template-level score matrix (P × T) → identity-level (P × G) by the best template."""
    labels = sorted(set(gallery_labels))
    col = {label: i for i, label in enumerate(labels)}
    idx = np.array([col[g] for g in gallery_labels])
    out = np.full((scores.shape[0], len(labels)), -np.inf)
    for j in range(len(labels)):
        members = np.nonzero(idx == j)[0]
        out[:, j] = scores[:, members].max(axis=1)
    return out, labels


def open_set(
    scores: np.ndarray,
    gallery_labels: Sequence[str],
    probe_labels: Sequence[str],
    fpir_targets: Sequence[float] = (0.01, 0.001),
    list_length: int = 10,
) -> OpenSetResult:
    """Open-set 1:N metrics (NIST FRVT style) from an identity-level score matrix P × G.

    Mated probes have their label in ``gallery_labels``. FPIR(t): share of non-mated searches
    returning any candidate ≥ t. FNIR(t): share of mated searches whose mate is not among the
    top ``list_length`` candidates with a score ≥ t.
    """
    scores = np.asarray(scores, np.float64)
    glabels = list(gallery_labels)
    gindex = {g: i for i, g in enumerate(glabels)}
    mated = np.array([p in gindex for p in probe_labels])
    ranks, mate_scores = [], []
    for row, label in zip(scores[mated], np.asarray(probe_labels, dtype=object)[mated]):
        mate = row[gindex[label]]
        ranks.append(int((row > mate).sum()) + 1)
        mate_scores.append(mate)
    ranks_arr = np.array(ranks)
    mate_arr = np.array(mate_scores)
    top_nonmated = scores[~mated].max(axis=1) if (~mated).any() else np.zeros(0)
    n_m = max(1, len(ranks_arr))
    cmc = [float((ranks_arr <= r).sum() / n_m) for r in range(1, min(50, scores.shape[1]) + 1)]
    in_list = ranks_arr <= list_length

    def fnir(t: float) -> float:
        return float(1.0 - (in_list & (mate_arr >= t)).sum() / n_m)

    fnir_d: dict[str, float | None] = {}
    thr_d: dict[str, float | None] = {}
    for target in fpir_targets:
        if len(top_nonmated) == 0:  # no non-mated searches: FPIR cannot be measured
            fnir_d[_key(target)] = thr_d[_key(target)] = None
            continue
        t = threshold_at_fmr(top_nonmated, target)
        fnir_d[_key(target)] = fnir(t)
        thr_d[_key(target)] = t
    curve_t = np.unique(np.quantile(top_nonmated, np.linspace(0, 1, 200))) if len(top_nonmated) else np.zeros(0)
    curve_fpir = fmr_at(top_nonmated, curve_t) if len(top_nonmated) else np.zeros(0)
    curve_fnir = np.array([fnir(t) for t in curve_t])
    return OpenSetResult(
        rank1=cmc[0] if cmc else 0.0,
        rank10=cmc[min(9, len(cmc) - 1)] if cmc else 0.0,
        cmc=cmc,
        fnir_at_fpir=fnir_d,
        thresholds_at_fpir=thr_d,
        mated_searches=int(mated.sum()),
        nonmated_searches=int((~mated).sum()),
        gallery_size=scores.shape[1],
        curve_fpir=[float(x) for x in curve_fpir],
        curve_fnir=[float(x) for x in curve_fnir],
    )


def recall_at_k(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Share of the exact top-k ids found in the approximate top-k (rows are queries)."""
    approx, exact = np.asarray(approx)[:, :k], np.asarray(exact)[:, :k]
    hits = sum(len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact))
    return hits / float(exact.size or 1)


def _key(x: float) -> str:
    return f"{x:g}"


def all_pair_scores(
    vectors: np.ndarray, labels: Sequence[str], *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of every unordered pair: (genuine = same label, impostor = different)."""
    scores = weighted_pair_scores(vectors, labels, chunk=chunk)
    return scores.genuine, scores.impostor


@dataclass(frozen=True)
class PairScores:
    """Every pair's score, with identity-pair weights (see ``identity_pair_weights``)."""

    genuine: np.ndarray
    impostor: np.ndarray
    genuine_weights: np.ndarray
    impostor_weights: np.ndarray


def weighted_pair_scores(vectors: np.ndarray, labels: Sequence[str], *, chunk: int = 2048) -> PairScores:
    """Cosine scores of every unordered pair, each with the weight that makes every pair of
    identities (and every identity's genuine pairs) count once."""
    v = np.asarray(vectors, np.float32)
    _, lab, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    n = counts[lab]
    genuine, impostor, gw, iw = [], [], [], []
    for start in range(0, len(v), chunk):
        block = v[start : start + chunk] @ v.T
        rows = np.arange(start, min(start + chunk, len(v)))
        upper = np.arange(len(v))[None, :] > rows[:, None]
        same = lab[rows][:, None] == lab[None, :]
        weights = identity_pair_weights(n[rows][:, None], n[None, :], same)
        genuine.append(block[upper & same])
        impostor.append(block[upper & ~same])
        gw.append(weights[upper & same])
        iw.append(weights[upper & ~same])
    return PairScores(*(np.concatenate(x) for x in (genuine, impostor, gw, iw)))


@dataclass(frozen=True)
class CalibrationCheck:
    predicted_fmr: float
    threshold: float
    observed_fmr: float
    impostor_pairs: int
    impostor_at_or_above: int

    @property
    def ratio(self) -> float:
        return self.observed_fmr / self.predicted_fmr if self.predicted_fmr > 0 else float("inf")


def calibration_check(
    thresholds_by_fmr: dict[float, float], impostor: np.ndarray, weights: np.ndarray | None = None
) -> list[CalibrationCheck]:
    """Observed FMR of held-out impostor scores at each predicted-FMR threshold (weighted the
    way the table was built, when ``weights`` are given).

    Where predicted FMR × impostor pairs is small (under ~10 expected false matches) the
    observed rate is too noisy to confirm the prediction; the counts are returned so that the
    report can say so.
    """
    scores = np.asarray(impostor, np.float64).ravel()
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, np.float64).ravel()
    order = np.argsort(scores, kind="mergesort")
    imp, cum = scores[order], np.concatenate([[0.0], np.cumsum(w[order])])
    out = []
    for predicted, t in sorted(thresholds_by_fmr.items(), reverse=True):
        below = int(np.searchsorted(imp, t, side="left"))
        observed = (cum[-1] - cum[below]) / cum[-1] if len(imp) else 0.0
        out.append(CalibrationCheck(predicted, float(t), float(observed), len(imp), len(imp) - below))
    return out
