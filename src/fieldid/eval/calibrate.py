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


def face_scores(items: list[Item], embeddings: dict[Path, Any]) -> tuple[np.ndarray, np.ndarray]:
    ok = [i for i in items if embeddings[i.path].embedding is not None]
    vectors = np.stack([embeddings[i.path].embedding for i in ok])
    return metrics.all_pair_scores(vectors, [i.label for i in ok])


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
    genuine, impostor = face_scores(build_items, extracted)
    model_id = model_id_for(settings)
    name = dataset_name or Path(manifest).parent.name
    cal = build_calibration(
        genuine, impostor, model_id=model_id, dataset=name, created=datetime.now(UTC).date().isoformat(),
        score_range=(-1.0, 1.0),
        notes={
            "images": len(build_items),
            "identities": len({i.label for i in build_items}),
            "failures_to_extract": sum(1 for i in build_items if extracted[i.path].embedding is None),
            "pairs": "all same-identity pairs (genuine) and all different-identity pairs (impostor)",
            "caveat": "pairs share images, so they are not independent: intervals are optimistic",
            **({"split": {"salt": SPLIT_SALT, "fraction": 1.0 - holdout,
                          "rule": "identities with stable_fraction(label, salt) < fraction built the table"}}
               if holdout > 0 else {}),
        },
    )
    report: dict[str, Any] = {"build_identities": len({i.label for i in build_items})}
    if check_items:
        _, held_impostor = face_scores(check_items, extracted)
        report["check_identities"] = len({i.label for i in check_items})
        report["calibration"] = check_against(cal, held_impostor)
    return cal, report


def check_against(cal: Calibration, impostor: np.ndarray) -> list[dict[str, float | int]]:
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
        for c in metrics.calibration_check(thresholds, impostor)
    ]
