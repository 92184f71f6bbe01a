"""Fingerprint 1:N search at scale and matching speed, against brute force in the same run.

Gallery: the first impressions of FVC2000 DB1_B's 10 fingers (the mates) plus N distractors
(default 100,000) made from DB3_B and DB4_B prints — other people than DB1's (DB2_B is left
out: it holds DB1's fingers). A distractor is a seed template moved (rotation ± 30°, shift
± 40 px), jittered (position σ 2 px, direction σ 6°), with 25 % of its minutiae dropped and
15 % spurious ones added: realistic minutiae statistics, but only 160 distinct seed fingers.
Probes: DB1_B impressions 2–8 (70 searches).

Two-stage search: inner product of search keys over the whole gallery (numpy/BLAS, float32),
then exact MCC re-ranking of the top ``--shortlist`` (several lengths, one row each).
Baseline: exact matching of every gallery template (brute force), on a subset of probes (it
takes ~ N / speed seconds each).

    .venv/bin/python benchmarks/finger_search.py --distractors 100000 --shortlist 200,500,1000,2000 \
        --out benchmarks/results/finger_search.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fieldid.core.finger import Matcher, extract_finger, pack, prepare, search_key
from fieldid.core.finger.cylinders import CylinderSet
from fieldid.core.params import MccParams
from fieldid.models.finger_models import shared_leader
from fieldid.types import FingerTemplate, frozen_array

DATA = Path("/work/shared/data/fingerprints/fvc2000-b")


def load(db: str, finger: int, impression: int) -> FingerTemplate:
    return extract_finger(np.array(Image.open(DATA / db / f"{finger}_{impression}.tif").convert("L")),
                          net=shared_leader())


def perturb(t: FingerTemplate, rng: np.random.Generator) -> FingerTemplate:
    m = np.array(t.minutiae, np.float64)
    keep = rng.random(len(m)) > 0.25
    m = m[keep]
    extra = int(round(0.15 * len(m)))
    if len(m) >= 3 and extra:
        lo, hi = m[:, :2].min(0), m[:, :2].max(0)
        new = np.column_stack(
            [
                rng.uniform(lo[0], hi[0], extra),
                rng.uniform(lo[1], hi[1], extra),
                rng.uniform(0, 2 * np.pi, extra),
                rng.integers(1, 3, extra),
                rng.uniform(20, 80, extra),
            ]
        )
        m = np.vstack([m, new])
    a = rng.uniform(-np.pi / 6, np.pi / 6)
    c, s = np.cos(a), np.sin(a)
    cx, cy = t.width / 2, t.height / 2
    x, y = m[:, 0] - cx, m[:, 1] - cy
    m[:, 0] = cx + c * x + s * y + rng.uniform(-40, 40) + rng.normal(0, 2, len(m))
    m[:, 1] = cy - s * x + c * y + rng.uniform(-40, 40) + rng.normal(0, 2, len(m))
    m[:, 2] = (m[:, 2] + a + rng.normal(0, np.radians(6), len(m))) % (2 * np.pi)
    return replace(t, minutiae=frozen_array(m, np.float32))


def slim(c: CylinderSet) -> CylinderSet:
    """Cylinders without the cell values (matching uses the bits only): 25× less memory."""
    return replace(c, values=np.zeros((0, 0), np.float32))


def build_chunk(job: tuple[list[FingerTemplate], int, int]) -> tuple[np.ndarray, list[CylinderSet]]:
    seeds, count, seed = job
    rng = np.random.default_rng(seed)
    keys, cyls = np.zeros((count, 0), np.float32), []
    key_rows = []
    for k in range(count):
        t = perturb(seeds[k % len(seeds)], rng)
        key_rows.append(search_key(t))
        cyls.append(slim(prepare(t)))
    keys = np.stack(key_rows)
    return keys, cyls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--distractors", type=int, default=100_000)
    ap.add_argument("--shortlist", default="200,500,1000,2000",
                    help="comma-separated shortlist lengths to measure")
    ap.add_argument("--brute-probes", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/finger_search.json"))
    args = ap.parse_args()
    shortlists = [int(v) for v in str(args.shortlist).split(",")]
    console = Console()
    mates = [load("DB1_B", f, 1) for f in range(101, 111)]
    probes = [(f, load("DB1_B", f, i)) for f in range(101, 111) for i in range(2, 9)]
    seeds = [load(db, f, i) for db in ("DB3_B", "DB4_B") for f in range(101, 111) for i in range(1, 9)]
    chunks = max(1, args.workers * 8)
    sizes = [args.distractors // chunks + (1 if k < args.distractors % chunks else 0) for k in range(chunks)]
    start = time.perf_counter()
    key_parts, cylinders = [], []
    with Progress(console=console) as progress, ProcessPoolExecutor(args.workers) as pool:
        task = progress.add_task("Building distractors", total=args.distractors)
        for keys, cyls in pool.map(build_chunk, [(seeds, n, 1000 + k) for k, n in enumerate(sizes)]):
            key_parts.append(keys)
            cylinders += cyls
            progress.advance(task, len(cyls))
    build_s = time.perf_counter() - start
    gallery_cyl = [slim(prepare(m)) for m in mates] + cylinders
    keys = np.vstack([np.stack([search_key(m) for m in mates])] + key_parts).astype(np.float32)
    n = len(gallery_cyl)
    params = MccParams()

    # Two-stage search, at every shortlist length asked for.
    two_stage: dict[str, dict] = {}
    for shortlist in shortlists:
        ranks_two, first_pass_hits, times_two, key_s, rerank_s = [], 0, [], [], []
        for finger, probe in probes:
            t0 = time.perf_counter()
            q = search_key(probe)
            sims = keys @ q
            top = np.argpartition(-sims, shortlist)[:shortlist]
            t1 = time.perf_counter()
            scores = Matcher(probe, params).match_packed(pack([gallery_cyl[k] for k in top], params))
            order = top[np.argsort(-scores)]
            t2 = time.perf_counter()
            times_two.append(t2 - t0)
            key_s.append(t1 - t0)
            rerank_s.append(t2 - t1)
            mate = finger - 101
            first_pass_hits += int(mate in set(top.tolist()))
            ranks_two.append(int(order[0] == mate))
        two_stage[str(shortlist)] = {
            "median_s": float(np.median(times_two)),
            "p95_s": float(np.percentile(times_two, 95)),
            "key_pass_median_s": float(np.median(key_s)),
            "rerank_median_s": float(np.median(rerank_s)),
            "rank1": float(np.mean(ranks_two)),
            "mate_in_shortlist": first_pass_hits / len(probes),
        }

    # Brute force on a few probes: exact matching of the whole gallery.
    packed_all = pack(gallery_cyl, params)
    brute_times, brute_hits = [], []
    for finger, probe in probes[:: max(1, len(probes) // args.brute_probes)][: args.brute_probes]:
        t0 = time.perf_counter()
        scores = Matcher(probe, params).match_packed(packed_all)
        brute_times.append(time.perf_counter() - t0)
        brute_hits.append(int(np.argmax(scores) == finger - 101))
    speed = n / float(np.median(brute_times))
    result = {
        "gallery": n,
        "distractors": args.distractors,
        "searches": len(probes),
        "shortlists": shortlists,
        "build_seconds": build_s,
        "cores": os.cpu_count(),
        "two_stage": two_stage,
        "brute_force": {
            "median_s": float(np.median(brute_times)),
            "probes": len(brute_times),
            "rank1": float(np.mean(brute_hits)),
            "comparisons_per_second": speed,
        },
    }
    for row in two_stage.values():
        row["speedup"] = result["brute_force"]["median_s"] / row["median_s"]
    table = Table(title=f"Fingerprint 1:N over {n:,} templates (one core for matching)")
    for col in ("method", "median s / search", "rank-1", "mate in shortlist", "speed-up"):
        table.add_column(col)
    table.add_row(
        "brute force (exact MCC)",
        f"{result['brute_force']['median_s']:.2f}",
        f"{result['brute_force']['rank1']:.0%} (of {len(brute_times)})",
        "-",
        "1.00",
    )
    for shortlist, row in two_stage.items():
        table.add_row(
            f"search key + re-rank {shortlist}",
            f"{row['median_s']:.3f}",
            f"{row['rank1']:.1%}",
            f"{row['mate_in_shortlist']:.1%}",
            f"{row['speedup']:.0f}×",
        )
    console.print(table)
    console.print(f"exact comparisons per second (brute force, one core): {speed:,.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
