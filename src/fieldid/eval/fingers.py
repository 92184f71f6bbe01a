"""Fingerprint evaluation (``fieldid eval fingers``): FVC protocol, 1:N rank-1, speed.

Manifest: ``path,label[,group]`` CSV, paths relative to it. A row whose group is
``contactless`` is a finger photo (the contactless path extracts it); other rows are contact
prints at 500 ppi. When both kinds are present, only contactless-probe vs contact-template
pairs are scored (the field case: a phone photo searched against enrolled prints).

FVC protocol (labels with several impressions): genuine = every pair of impressions of the
same finger; impostor = the first impression of every finger against the first impression
of every other finger. With a ``group`` column (a database or session), pairs stay within
a group. That impostor set is small (45 pairs per FVC B database), so
FNMR at FMR 0.1 % is also reported on *all* different-finger pairs (``*_all_impostors``).
A pair with a side that failed to extract scores 0 (counted, not dropped).

1:N: the first impression of each finger is the gallery, every other impression searches it
(exhaustive exact matching); ``rank1`` is the share whose mate scores highest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fieldid.config import Settings
from fieldid.core.calibration import Calibration, build_calibration
from fieldid.core.finger import MATCHER_MODEL_ID, SCORE_RANGE, Matcher, pack, prepare
from fieldid.core.params import MccParams
from fieldid.errors import FieldIDError
from fieldid.eval import metrics
from fieldid.eval.datasets import Item, read_manifest, stable_fraction
from fieldid.imaging import ImageLimits
from fieldid.types import FingerTemplate

FMR_LEVELS = (1e-2, 1e-3, 1e-4)
CONTACTLESS_GROUP = "contactless"
#: Identity-disjoint calibration split (same rule as faces: eval/calibrate.py).
SPLIT_SALT = "fieldid-finger-calibration"
SPLIT_FRACTION = 0.5
#: Predicted-FMR levels checked on held-out fingers.
CHECK_LEVELS = (1e-1, 1e-2, 1e-3, 1e-4)
#: Cap on "all impostor" pairs (a random, seeded subset beyond it keeps runs short).
MAX_ALL_IMPOSTORS = 200_000

_worker_limits: ImageLimits | None = None


@dataclass(frozen=True)
class Extraction:
    template: FingerTemplate | None
    failure: str | None
    seconds: float


def _init_worker(limits: ImageLimits) -> None:
    global _worker_limits
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_limits = limits


def _extract_one(job: tuple[str, bool, bool]) -> tuple[str, Extraction]:
    from fieldid.core.finger import extract_finger, extract_fingers_from_photo
    from fieldid.imaging import decode_image
    from fieldid.models.finger_models import shared_leader

    path, contactless, classic = job
    start = time.perf_counter()
    try:
        image = decode_image(Path(path).read_bytes(), _worker_limits)
        net = None if classic else shared_leader(threads=1)  # one worker process per core
        if contactless:
            found = extract_fingers_from_photo(image.rgb, net=net)
            template = max(found, key=lambda t: t.count)
        else:
            template = extract_finger(image.gray(), net=net)
    except FieldIDError as exc:
        return path, Extraction(None, exc.code, time.perf_counter() - start)
    return path, Extraction(template, None, time.perf_counter() - start)


def extract_templates(
    items: Sequence[Item],
    limits: ImageLimits,
    *,
    workers: int | None = None,
    quiet: bool = False,
    description: str = "Extracting fingerprints",
    classic: bool = False,
) -> dict[Path, Extraction]:
    """Templates of every item's image, extracted in worker processes.

    ``classic``: minutiae from the classic stages instead of the minutiae network (the
    baseline of ``benchmarks/finger_accuracy.py``; its scores have no shipped calibration).
    """
    jobs = list(dict.fromkeys((str(i.path), i.group == CONTACTLESS_GROUP, classic) for i in items))
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    out: dict[Path, Extraction] = {}
    with _progress(quiet) as progress:
        task = progress.add_task(description, total=len(jobs))
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(limits,)) as pool:
            for path, extraction in pool.map(_extract_one, jobs, chunksize=4):
                out[Path(path)] = extraction
                progress.advance(task)
    return out


def _progress(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, disable=quiet, transient=False)


def by_label(items: Sequence[Item]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.label, []).append(item)
    return groups


def _sessions(items: Sequence[Item]) -> list[list[Item]]:
    """Items split by group (a database or capture session); pairs never cross sessions.

    FVC2000 DB1_B and DB2_B hold the same fingers under the same numbers (measured: every
    DB1 finger's best DB2 match is its namesake), so pairing across databases would count
    genuine pairs as impostors.
    """
    sessions: dict[str | None, list[Item]] = {}
    for item in items:
        sessions.setdefault(item.group, []).append(item)
    return list(sessions.values())


def fvc_pairs(items: Sequence[Item]) -> tuple[list[tuple[Item, Item]], list[tuple[Item, Item]]]:
    """(genuine, impostor) pairs of the FVC protocol within each group, or cross pairs for mixed manifests."""
    contactless = [i for i in items if i.group == CONTACTLESS_GROUP]
    contact = [i for i in items if i.group != CONTACTLESS_GROUP]
    if contactless and contact:
        gallery = by_label(contact)
        firsts = {label: group[0] for label, group in gallery.items()}
        first_photos = {label: group[0] for label, group in by_label(contactless).items()}
        genuine = [(p, g) for p in contactless for g in gallery.get(p.label, [])]
        impostor = [(p, firsts[label]) for p in first_photos.values() for label in firsts if label != p.label]
        return genuine, impostor
    genuine, impostor = [], []
    for session in _sessions(items):
        groups = by_label(session)
        genuine += [
            (g[a], g[b]) for g in groups.values() for a in range(len(g)) for b in range(a + 1, len(g))
        ]
        firsts = [g[0] for g in groups.values()]
        impostor += [(firsts[a], firsts[b]) for a in range(len(firsts)) for b in range(a + 1, len(firsts))]
    return genuine, impostor


def all_impostor_pairs(items: Sequence[Item], seed: int = 0) -> list[tuple[Item, Item]]:
    """Every different-finger pair (within each group; contactless probes × contact prints)."""
    contactless = [i for i in items if i.group == CONTACTLESS_GROUP]
    contact = [i for i in items if i.group != CONTACTLESS_GROUP]
    if contactless and contact:
        pairs = [(p, g) for p in contactless for g in contact if g.label != p.label]
    else:
        pairs = [
            (s[a], s[b])
            for s in _sessions(items)
            for a in range(len(s))
            for b in range(a + 1, len(s))
            if s[a].label != s[b].label
        ]
    if len(pairs) > MAX_ALL_IMPOSTORS:
        keep = np.random.default_rng(seed).choice(len(pairs), MAX_ALL_IMPOSTORS, replace=False)
        pairs = [pairs[k] for k in sorted(keep)]
    return pairs


class PairScorer:
    """Scores pairs with probes prepared once and candidates packed; times the comparisons."""

    def __init__(self, extracted: dict[Path, Extraction], params: MccParams | None = None) -> None:
        self.params = params or MccParams()
        self.cylinders = {
            p: prepare(e.template, self.params) for p, e in extracted.items() if e.template is not None
        }
        self.contactless = {
            p: e.template for p, e in extracted.items() if e.template is not None and e.template.contactless
        }
        self.seconds = 0.0
        self.comparisons = 0

    def score(
        self, pairs: Sequence[tuple[Item, Item]], quiet: bool = True, description: str = "Matching"
    ) -> np.ndarray:
        out = np.zeros(len(pairs))
        by_probe: dict[Path, list[int]] = {}
        for k, (a, b) in enumerate(pairs):
            if a.path in self.cylinders and b.path in self.cylinders:
                by_probe.setdefault(a.path, []).append(k)
        with _progress(quiet) as progress:
            task = progress.add_task(description, total=len(pairs))
            for probe, ks in by_probe.items():
                packed = pack([self.cylinders[pairs[k][1].path] for k in ks], self.params)
                # Contactless probes keep their template: the matcher tries several scales.
                matcher = Matcher(self.contactless.get(probe) or self.cylinders[probe], self.params)
                start = time.perf_counter()
                out[ks] = matcher.match_packed(packed)
                self.seconds += time.perf_counter() - start
                self.comparisons += len(ks)
                progress.advance(task, len(ks))
            progress.update(task, completed=len(pairs))
        return out

    @property
    def per_second(self) -> float:
        return self.comparisons / self.seconds if self.seconds > 0 else 0.0


def rank_one(items: Sequence[Item], scorer: PairScorer) -> tuple[float, int]:
    """Exhaustive 1:N per group: first impressions enrol, the others search. (rank-1 rate, searches)."""
    contactless = [i for i in items if i.group == CONTACTLESS_GROUP]
    contact = [i for i in items if i.group != CONTACTLESS_GROUP]
    if contactless and contact:
        gallery = [g[0] for g in by_label(contact).values()]
        enrolled = {g.label for g in gallery}
        searches = [(gallery, [p for p in contactless if p.label in enrolled])]
    else:
        searches = []
        for session in _sessions(items):
            groups = by_label(session)
            searches.append(([g[0] for g in groups.values()], [i for g in groups.values() for i in g[1:]]))
    hits = total = 0
    for gallery, probes in searches:
        if len(gallery) < 2:
            continue
        for probe in probes:
            scores = scorer.score([(probe, g) for g in gallery])
            best = int(np.argmax(scores))
            hits += int(gallery[best].label == probe.label and scores[best] > 0)
            total += 1
    return (hits / total if total else 0.0), total


def rates(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    return {
        "eer": metrics.eer(genuine, impostor),
        "fnmr_at_fmr": {f"{level:g}": metrics.fnmr_at_fmr(genuine, impostor, level) for level in FMR_LEVELS},
        "genuine_pairs": int(len(genuine)),
        "impostor_pairs": int(len(impostor)),
        # An FMR under 1 / impostor_pairs cannot be measured: its FNMR is an upper bound.
        "min_measurable_fmr": 1.0 / max(1, len(impostor)),
    }


def run_finger_eval(
    settings: Settings, manifest: Path, out: Path, *, workers: int | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Evaluate the fingerprint pipeline on ``manifest``; writes results.json and det.png in ``out``."""
    from fieldid.eval.report import det_plot

    items = read_manifest(Path(manifest))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    extracted = extract_templates(items, settings.image_limits, workers=workers, quiet=quiet)
    scorer = PairScorer(extracted)
    genuine_pairs, impostor_pairs = fvc_pairs(items)
    genuine = scorer.score(genuine_pairs, quiet, "Genuine pairs")
    impostor = scorer.score(impostor_pairs, quiet, "Impostor pairs")
    wide_pairs = all_impostor_pairs(items)
    wide = scorer.score(wide_pairs, quiet, "All impostor pairs")
    rank1, searches = rank_one(items, scorer)
    failures = sorted(str(p) for p, e in extracted.items() if e.template is None)
    seconds = [e.seconds for e in extracted.values()]
    results: dict[str, Any] = {
        "protocol": "fvc"
        if not any(i.group == CONTACTLESS_GROUP for i in items)
        else "contactless-vs-contact",
        "model_id": MATCHER_MODEL_ID,
        "score_range": list(SCORE_RANGE),
        "images": len(extracted),
        "fingers": len(by_label(items)),
        **rates(genuine, impostor),
        "all_impostors": rates(genuine, wide),
        "failures_to_extract": len(failures),
        "failed_images": failures,
        "comparisons_per_second": scorer.per_second,
        "comparisons": scorer.comparisons,
        "rank1": rank1,
        "searches": searches,
        "ms_per_extraction": 1000.0 * float(np.median(seconds)) if seconds else 0.0,
        "mean_minutiae": float(np.mean([e.template.count for e in extracted.values() if e.template]))
        if len(failures) < len(extracted)
        else 0.0,
    }
    results["calibration_check"] = _calibration_check(settings, items, scorer)
    det_plot(
        [("FVC impostors", genuine, impostor), ("all impostors", genuine, wide)],
        out / "det.png",
        f"Fingerprints — {Path(manifest).parent.name}",
    )
    (out / "results.json").write_text(json.dumps(results, indent=1))
    np.savez_compressed(out / "scores.npz", genuine=genuine, impostor=impostor, all_impostors=wide)
    return results


def _calibration_check(
    settings: Settings, items: Sequence[Item], scorer: PairScorer
) -> dict[str, Any] | None:
    """Predicted vs observed FMR on fingers the calibration table did not see."""
    from fieldid.calibration_io import find_calibration
    from fieldid.eval.calibrate import check_against

    try:
        cal = find_calibration(MATCHER_MODEL_ID, settings.calibration_dir)
    except FieldIDError:
        return None
    split = cal.notes.get("split") if isinstance(cal.notes, dict) else None
    held = list(items)
    if isinstance(split, dict):  # keep only fingers the table was not built on
        salt, fraction = str(split.get("salt")), float(split.get("fraction", 1.0))
        held = [i for i in items if stable_fraction(i.label, salt) >= fraction]
    impostor = scorer.score(all_impostor_pairs(held)) if len(by_label(held)) >= 2 else np.zeros(0)
    if len(impostor) == 0:
        return None
    return {
        "calibration": cal.version,
        "dataset": cal.dataset,
        "held_out_fingers": len(by_label(held)),
        "levels": check_against(cal, impostor),
    }


def calibrate_fingers(
    items: Sequence[Item], extracted: dict[Path, Extraction], *, dataset: str, quiet: bool = True
) -> tuple[Calibration, dict[str, Any]]:
    """A calibration table from the fingers on the build side of the identity-disjoint split.

    Genuine: all same-finger pairs; impostor: all different-finger pairs (every impression).
    Returns the table and the held-out check.
    """
    build = [i for i in items if stable_fraction(i.label, SPLIT_SALT) < SPLIT_FRACTION]
    check = [i for i in items if stable_fraction(i.label, SPLIT_SALT) >= SPLIT_FRACTION]
    scorer = PairScorer(extracted)
    genuine_pairs = [
        (g[a], g[b]) for g in by_label(build).values() for a in range(len(g)) for b in range(a + 1, len(g))
    ]
    genuine = scorer.score(genuine_pairs, quiet, "Calibration genuine")
    impostor = scorer.score(all_impostor_pairs(build), quiet, "Calibration impostors")
    cal = build_calibration(
        genuine,
        impostor,
        model_id=MATCHER_MODEL_ID,
        dataset=dataset,
        created=datetime.now(UTC).date().isoformat(),
        score_range=SCORE_RANGE,
        notes={
            "images": len(build),
            "fingers": len(by_label(build)),
            "failures_to_extract": sum(1 for i in build if extracted[i.path].template is None),
            "pairs": "all same-finger pairs (genuine) and all different-finger pairs (impostor)",
            "weighting": "none: every comparison counts once (FVC-style sets hold the same number of "
                         "impressions per finger, so identity-pair weights would change nothing but the "
                         "effective sample size)",
            "score": "MCC bit cylinders + LSS-R, range [0, 1]",
            "caveat": "pairs share images, so they are not independent: intervals are optimistic",
            "split": {
                "salt": SPLIT_SALT,
                "fraction": SPLIT_FRACTION,
                "rule": "fingers with stable_fraction(label, salt) < fraction built the table",
            },
        },
    )
    from fieldid.eval.calibrate import check_against

    held_impostor = scorer.score(all_impostor_pairs(check), quiet, "Held-out impostors")
    report = {
        "build_fingers": len(by_label(build)),
        "check_fingers": len(by_label(check)),
        "calibration": check_against(cal, held_impostor) if len(held_impostor) else [],
    }
    return cal, report
