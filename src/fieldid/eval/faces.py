"""Face evaluations: the LFW pairs protocol and open-set identification on a manifest."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from fieldid.config import Settings
from fieldid.eval import metrics
from fieldid.eval.datasets import Item, read_lfw_pairs, read_manifest, stable_fraction
from fieldid.eval.extract import Extracted, extract_faces, model_id_for

#: Score given to a pair where one side failed to extract: always a non-match (the LFW
#: protocol counts such pairs, it does not drop them).
FAILED_PAIR_SCORE = -1.0


def lfw_pairs(
    pairs_path: Path, images_dir: Path, settings: Settings, *, cache_dir: Path | None = None,
    workers: int | None = None, quiet: bool = False,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per-fold accuracy with the threshold learned on the other folds. Returns (results, arrays)."""
    pairs = read_lfw_pairs(pairs_path, images_dir)
    paths = [p for pair in pairs for p in (pair.a, pair.b)]
    extracted = extract_faces(paths, settings, cache_dir=cache_dir, workers=workers, quiet=quiet,
                              description="LFW pairs")
    scores = np.array([_pair_score(extracted[p.a], extracted[p.b]) for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accs, thresholds = metrics.fold_accuracies(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    failures = sorted({str(p) for p in paths if extracted[p].embedding is None})
    results = {
        "protocol": "lfw-pairs",
        "model_id": model_id_for(settings),
        "pairs": int(len(pairs)),
        "folds": len(accs),
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "fold_accuracies": accs,
        "fold_thresholds": thresholds,
        "eer": metrics.eer(genuine, impostor),
        "failures_to_extract": len(failures),
        "failed_images": failures,
        "images": len(set(paths)),
        "ms_per_image": _ms_per_image(extracted.values()),
    }
    return results, {"genuine": genuine, "impostor": impostor}


def _pair_score(a: Extracted, b: Extracted) -> float:
    if a.embedding is None or b.embedding is None:
        return FAILED_PAIR_SCORE
    return float(np.dot(a.embedding, b.embedding))


def _ms_per_image(values: Any) -> float:
    secs = [v.seconds for v in values if v.seconds > 0]
    return 1000.0 * statistics.median(secs) if secs else 0.0


def split_open_set(items: list[Item], salt: str = "fieldid-open-set") -> tuple[list[Item], list[Item]]:
    """Gallery/probe split for open-set identification.

    Identities with ≥ 2 images: the first image (by path) enrols, one other (chosen by hash) is a
    mated probe. Identities with one image: by hash, half enrol (distractors) and half are
    non-mated probes (people who are not in the gallery).
    """
    by_label: dict[str, list[Item]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    gallery, probes = [], []
    for label, group in sorted(by_label.items()):
        group = sorted(group, key=lambda it: str(it.path))
        if len(group) >= 2:
            gallery.append(group[0])
            rest = group[1:]
            probes.append(rest[int(stable_fraction(label, salt) * len(rest))])
        elif stable_fraction(label, salt) < 0.5:
            gallery.append(group[0])
        else:
            probes.append(group[0])
    return gallery, probes


def open_set_manifest(
    manifest: Path, settings: Settings, *, cache_dir: Path | None = None, workers: int | None = None,
    quiet: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    items = read_manifest(manifest)
    gallery, probes = split_open_set(items)
    extracted = extract_faces([i.path for i in items], settings, cache_dir=cache_dir, workers=workers,
                              quiet=quiet, description="Open-set")
    g_ok = [i for i in gallery if extracted[i.path].embedding is not None]
    p_ok = [i for i in probes if extracted[i.path].embedding is not None]
    gvec = np.stack([extracted[i.path].embedding for i in g_ok])
    pvec = np.stack([extracted[i.path].embedding for i in p_ok])
    scores = pvec @ gvec.T
    id_scores, labels = metrics.identity_scores(scores, [i.label for i in g_ok])
    # A probe that failed to extract is a failed search: mated → a miss (counted below).
    result = metrics.open_set(id_scores, labels, [i.label for i in p_ok], fpir_targets=(0.01, 0.001))
    failed_mated = sum(1 for i in probes if extracted[i.path].embedding is None and
                       any(g.label == i.label for g in gallery))
    n_mated = result.mated_searches + failed_mated

    def with_failures(rate: float) -> float:
        return (rate * result.mated_searches + failed_mated) / max(1, n_mated)

    results = {
        "protocol": "open-set",
        "model_id": model_id_for(settings),
        "gallery_identities": len(labels),
        "mated_searches": n_mated,
        "nonmated_searches": result.nonmated_searches,
        "rank1": 1.0 - with_failures(1.0 - result.rank1),
        "rank10": 1.0 - with_failures(1.0 - result.rank10),
        "fnir_at_fpir": {k: (None if v is None else with_failures(v)) for k, v in result.fnir_at_fpir.items()},
        "thresholds_at_fpir": result.thresholds_at_fpir,
        "failures_to_extract": sum(1 for i in items if extracted[i.path].embedding is None),
        "ms_per_image": _ms_per_image(extracted.values()),
    }
    return results, {"open_set": result, "items": items, "extracted": extracted, "gallery": g_ok, "probes": p_ok}
