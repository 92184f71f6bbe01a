"""Fingerprint accuracy on FVC2000 DB1_B–DB4_B (FVC protocol), per database and pooled.

Prints a table and writes JSON. DB4 is synthetic (SFinGe): reported, never pooled into claims
about real people. Baselines in the same run, same matcher: minutiae from our classic stages
(Gabor enhancement, thinning, crossing number: FieldID's extractor before the LEADER network),
and the MCC local similarity sort only (LSS, no relaxation: what the relaxation step buys).

    .venv/bin/python benchmarks/finger_accuracy.py --out benchmarks/results/finger_accuracy.json \
        [--write-calibration]

``--write-calibration`` (re)builds the shipped calibration table from the real databases'
build half (identity-disjoint split, recorded in the file) and checks it on the other half.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from fieldid.calibration_io import save_calibration, shipped_file_name
from fieldid.core.finger import MATCHER_MODEL_ID
from fieldid.core.params import MccParams
from fieldid.eval import fingers as fe
from fieldid.eval.datasets import Item
from fieldid.imaging import ImageLimits

DATA = Path("/work/shared/data/fingerprints/fvc2000-b")
REAL = ("DB1_B", "DB2_B", "DB3_B")


def items_of(db: str) -> list[Item]:
    # group = database: DB1_B and DB2_B share fingers, so pairs never cross databases.
    return [
        Item(DATA / db / f"{f}_{i}.tif", f"fvc2000_{db[:3].lower()}_{f}", db)
        for f in range(101, 111)
        for i in range(1, 9)
    ]


def evaluate(items: list[Item], extracted, mcc: MccParams | None = None) -> dict:
    scorer = fe.PairScorer(extracted, mcc)
    gen_pairs, imp_pairs = fe.fvc_pairs(items)
    genuine, impostor = scorer.score(gen_pairs), scorer.score(imp_pairs)
    wide = scorer.score(fe.all_impostor_pairs(items))
    rank1, searches = fe.rank_one(items, scorer)
    return {
        **fe.rates(genuine, impostor),
        "all_impostors": fe.rates(genuine, wide),
        "rank1": rank1,
        "searches": searches,
        "comparisons_per_second": scorer.per_second,
        "failures_to_extract": sum(1 for i in items if extracted[i.path].template is None),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/finger_accuracy.json"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write-calibration", action="store_true")
    args = ap.parse_args()
    dbs = {db: items_of(db) for db in (*REAL, "DB4_B")}
    everything = [i for group in dbs.values() for i in group]
    start = time.perf_counter()
    extracted = fe.extract_templates(everything, ImageLimits(), workers=args.workers)
    extract_s = time.perf_counter() - start
    start = time.perf_counter()
    classic = fe.extract_templates(everything, ImageLimits(), workers=args.workers, classic=True,
                                   description="Extracting (classic baseline)")
    classic_s = time.perf_counter() - start
    baseline_mcc = replace(MccParams(), relax_iterations=0)
    rows: dict[str, dict] = {}
    sets = {**dbs, "DB1-3 pooled": [i for db in REAL for i in dbs[db]]}
    for name, items in sets.items():
        rows[name] = {
            "ours": evaluate(items, extracted),
            "baseline_classic_minutiae": evaluate(items, classic),
            "baseline_lss": evaluate(items, extracted, baseline_mcc),
        }
    table = Table(title="FVC2000 B — FVC protocol (EER, FNMR@FMR 0.1 % on all impostor pairs)")
    columns = ("set", "EER", "EER all-imp", "FNMR@0.1%", "FNMR@1%", "rank-1", "FTE",
               "EER classic base", "FNMR@0.1% classic", "EER LSS base")
    for col in columns:
        table.add_column(col)
    for name, r in rows.items():
        o, c, b = r["ours"], r["baseline_classic_minutiae"], r["baseline_lss"]
        table.add_row(
            name,
            f"{o['eer']:.2%}",
            f"{o['all_impostors']['eer']:.2%}",
            f"{o['all_impostors']['fnmr_at_fmr']['0.001']:.2%}",
            f"{o['all_impostors']['fnmr_at_fmr']['0.01']:.2%}",
            f"{o['rank1']:.2%}",
            str(o["failures_to_extract"]),
            f"{c['eer']:.2%}",
            f"{c['all_impostors']['fnmr_at_fmr']['0.001']:.2%}",
            f"{b['eer']:.2%}",
        )
    console = Console()
    console.print(table)
    result = {
        "model_id": MATCHER_MODEL_ID,
        "extract_seconds": extract_s,
        "extract_seconds_classic": classic_s,
        "images": len(everything),
        "sets": rows,
        "note": "DB4_B is synthetic (SFinGe); claims about real people use DB1-3.",
    }
    if args.write_calibration:
        real = sets["DB1-3 pooled"]
        cal, check = fe.calibrate_fingers(real, extracted, dataset="fvc2000-b-db1-3")
        data_dir = Path(__file__).resolve().parents[1] / "src/fieldid/data"
        target = data_dir / shipped_file_name(MATCHER_MODEL_ID)
        save_calibration(cal, target)
        result["calibration"] = {"file": str(target.name), "version": cal.version, **check}
        console.print(f"calibration written: {target} ({check})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
