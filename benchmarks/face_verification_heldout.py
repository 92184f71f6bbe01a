"""1:1 verification of faces on the identities the shipped calibration was *not* built from.

Every same-identity and different-identity pair of the held-out half of the dev manifest (the
split recorded in the calibration's ``notes.split``), scored with the default model; rates
both per comparison (every image pair counts once) and per identity pair (every pair of
people counts once, the calibration's own weighting), at empirical thresholds and at the
calibration's thresholds. Embeddings come from the evaluation cache (``fieldid calibrate
faces`` fills it).

    .venv/bin/python benchmarks/face_verification_heldout.py --out docs/figures/verification-heldout.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from fieldid.calibration_io import find_calibration
from fieldid.config import Settings, default_shared_data
from fieldid.eval import metrics
from fieldid.eval.calibrate import face_scores
from fieldid.eval.datasets import read_manifest, stable_fraction
from fieldid.eval.extract import extract_faces, model_id_for

LEVELS = (1e-2, 1e-3, 1e-4)


def weighted_fmr(impostor: np.ndarray, weights: np.ndarray, t: float) -> float:
    return float(weights[impostor >= t].sum() / weights.sum())


def weighted_fnmr(genuine: np.ndarray, weights: np.ndarray, t: float) -> float:
    return float(weights[genuine < t].sum() / weights.sum())


def weighted_threshold(impostor: np.ndarray, weights: np.ndarray, target: float) -> float:
    order = np.argsort(-impostor, kind="mergesort")
    share = np.cumsum(weights[order]) / weights.sum()
    k = int(np.searchsorted(share, target, side="right"))  # the top k scores stay within the target
    return float(np.nextafter(impostor[order][k], np.inf)) if k < len(order) else float(impostor.min())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path,
                    default=default_shared_data() / "faces" / "lfw-deepfunneled-dev" / "manifest.csv")
    ap.add_argument("--cache", type=Path, default=Path("var/cache/embeddings"))
    ap.add_argument("--out", type=Path, default=Path("docs/figures/verification-heldout.json"))
    args = ap.parse_args()
    settings = Settings()
    cal = find_calibration(model_id_for(settings), settings.calibration_dir)
    split = cal.notes["split"]
    items = [i for i in read_manifest(args.manifest)
             if stable_fraction(i.label, split["salt"]) >= float(split["fraction"])]
    extracted = extract_faces([i.path for i in items], settings, cache_dir=args.cache)
    ok = [i for i in items if extracted[i.path].embedding is not None]
    s = face_scores(ok, extracted)
    result = {
        "source": "all same-identity / different-identity pairs of the dev identities the shipped "
                  "calibration was not built from (its recorded split)",
        "model_id": cal.model_id, "calibration_version": cal.version,
        "script": "benchmarks/face_verification_heldout.py",
        "identities": len({i.label for i in ok}), "images": len(ok), "failures_to_extract": len(items) - len(ok),
        "genuine_pairs": int(len(s.genuine)), "impostor_pairs": int(len(s.impostor)),
        "eer_per_comparison": metrics.eer(s.genuine, s.impostor),
        "genuine_mean": float(s.genuine.mean()), "impostor_mean": float(s.impostor.mean()),
        "impostor_sd": float(s.impostor.std()), "levels": [],
    }
    table = Table("FMR", "weighting", "empirical threshold", "FNMR there", "calibrated threshold",
                  "FNMR there", "observed FMR there", title=f"Held-out verification ({result['identities']} people)")
    for level in LEVELS:
        t_cal = cal.threshold_at_fmr(level)
        row = {"fmr": level, "threshold_calibrated": t_cal}
        t_emp = metrics.threshold_at_fmr(s.impostor, level)
        row["per_comparison"] = {
            "threshold_empirical": t_emp, "fnmr_empirical": float(metrics.fnmr_at(s.genuine, np.array([t_emp]))[0]),
            "fnmr_at_calibrated_threshold": float(metrics.fnmr_at(s.genuine, np.array([t_cal]))[0]),
            "observed_fmr_at_calibrated_threshold": float(metrics.fmr_at(s.impostor, np.array([t_cal]))[0]),
        }
        t_w = weighted_threshold(s.impostor, s.impostor_weights, level)
        row["per_identity_pair"] = {
            "threshold_empirical": t_w, "fnmr_empirical": weighted_fnmr(s.genuine, s.genuine_weights, t_w),
            "fnmr_at_calibrated_threshold": weighted_fnmr(s.genuine, s.genuine_weights, t_cal),
            "observed_fmr_at_calibrated_threshold": weighted_fmr(s.impostor, s.impostor_weights, t_cal),
        }
        for name in ("per_comparison", "per_identity_pair"):
            r = row[name]
            table.add_row(f"{level:g}", name.replace("_", " "), f"{r['threshold_empirical']:.4f}",
                          f"{r['fnmr_empirical']:.2%}", f"{t_cal:.4f}", f"{r['fnmr_at_calibrated_threshold']:.2%}",
                          f"{r['observed_fmr_at_calibrated_threshold']:.2e}")
        result["levels"].append(row)
    Console().print(table)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
