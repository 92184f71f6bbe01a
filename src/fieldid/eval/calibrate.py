"""Build calibration tables from a labelled manifest (``fieldid calibrate faces``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fieldid.config import Settings
from fieldid.core.calibration import Calibration, build_calibration
from fieldid.eval import metrics
from fieldid.eval.datasets import Item, read_manifest, stable_fraction
from fieldid.eval.extract import extract_faces, model_id_for

#: Held-out check levels (predicted FMR).
CHECK_LEVELS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


SPLIT_SALT = "fieldid-calibration"


def split_by_identity(items: list[Item], fraction: float = 0.5, salt: str = SPLIT_SALT) -> tuple[list[Item], list[Item]]:
    """Identity-disjoint split: a label's images all go to the same side."""
    a = [i for i in items if stable_fraction(i.label, salt) < fraction]
    b = [i for i in items if stable_fraction(i.label, salt) >= fraction]
    return a, b


def face_scores(items: list[Item], embeddings: dict[Path, Any]) -> metrics.PairScores:
    """Every pair's score with its identity-pair weight (see ``identity_pair_weights``)."""
    ok = [i for i in items if embeddings[i.path].embedding is not None]
    vectors = np.stack([embeddings[i.path].embedding for i in ok])
    return metrics.weighted_pair_scores(vectors, [i.label for i in ok])


def calibrate_faces(
    manifest: Path, settings: Settings, *, dataset_name: str | None = None, cache_dir: Path | None = None,
    workers: int | None = None, quiet: bool = False, holdout: float = 0.0,
) -> tuple[Calibration, dict[str, Any]]:
    """A face calibration from every same-label and different-label pair of the manifest.

    With ``holdout`` > 0 that share of identities is kept out of the table and used to
    check it (observed vs predicted FMR), reported in the second return value.
    """
    items = read_manifest(manifest)
    extracted = extract_faces([i.path for i in items], settings, cache_dir=cache_dir, workers=workers,
                              quiet=quiet, description="Calibration images")
    build_items, check_items = split_by_identity(items, 1.0 - holdout) if holdout > 0 else (items, [])
    scores = face_scores(build_items, extracted)
    model_id = model_id_for(settings)
    name = dataset_name or Path(manifest).parent.name
    cal = build_calibration(
        scores.genuine, scores.impostor, model_id=model_id, dataset=name,
        created=datetime.now(UTC).date().isoformat(), score_range=(-1.0, 1.0),
        genuine_weights=scores.genuine_weights, impostor_weights=scores.impostor_weights,
        notes={
            "images": len(build_items),
            "identities": len({i.label for i in build_items}),
            "failures_to_extract": sum(1 for i in build_items if extracted[i.path].embedding is None),
            "pairs": "all same-identity pairs (genuine) and all different-identity pairs (impostor)",
            "weighting": "identity pairs: a comparison of images of A and B weighs 1/(n_A n_B) (genuine: "
                         "1/(n_A(n_A-1)/2)), so every pair of people counts once, as in a gallery",
            "caveat": "pairs share images, so they are not independent: intervals are optimistic",
            **({"split": {"salt": SPLIT_SALT, "fraction": 1.0 - holdout,
                          "rule": "identities with stable_fraction(label, salt) < fraction built the table"}}
               if holdout > 0 else {}),
        },
    )
    report: dict[str, Any] = {"build_identities": len({i.label for i in build_items})}
    if check_items:
        held = face_scores(check_items, extracted)
        report["check_identities"] = len({i.label for i in check_items})
        report["calibration"] = check_against(cal, held.impostor, held.impostor_weights)
    return cal, report


def check_against(
    cal: Calibration, impostor: np.ndarray, weights: np.ndarray | None = None
) -> list[dict[str, float | int]]:
    """Predicted vs observed FMR on held-out impostor scores, weighted as the table was built."""
    thresholds = {level: cal.threshold_at_fmr(level) for level in CHECK_LEVELS}
    return [
        {
            "predicted_fmr": c.predicted_fmr,
            "threshold": c.threshold,
            "observed_fmr": c.observed_fmr,
            "impostor_pairs": c.impostor_pairs,
            "false_matches": c.impostor_at_or_above,
            "ratio": c.ratio,
        }
        for c in metrics.calibration_check(thresholds, impostor, weights)
    ]
