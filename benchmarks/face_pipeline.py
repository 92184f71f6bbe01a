"""Face pipeline benchmark: time per stage for one image, and identify latency vs gallery size.

    .venv/bin/python benchmarks/face_pipeline.py --out benchmarks/results/face_pipeline.json

Part 1, stages. ~50 dev images (every n-th of the manifest, fixed) go through the same stages
as :func:`fieldid.core.face.extract_face`, each timed on its own, one process, one thread:
decode (``imaging.decode_image``), detect (``detect_faces`` + ``choose_face``), landmarks
(dlib 5 points, and 68 when a chip needs them), align (the model's dlib chips), quality
(measures + assessment) and embed (dlib ResNet on every chip and its mirror, no jitter).
Models come from ``FaceModelLoader`` and are loaded (and warmed on one image) before timing.
The same images also go through a baseline model (``--baseline-views``, default ``lm5``: the
single-chip model that was the default before two-chip averaging), interleaved image by
image, and the stage times are printed as ratios to it. LFW images are 250×250: detection on
a phone photo costs more (the detector downscales to ``detect_max_side`` first).

Part 2, identify vs gallery size (1k/10k/100k by default). Plain random unit vectors would
make every neighbour equally far; the galleries here have the identity structure of real
dlib embeddings of the dev set (``var/cache/embeddings``, filled by ``fieldid calibrate faces``):

* identity centres: the mean embedding of each dev identity with ≥ 2 images (real faces),
  then — as the dev set has far fewer people than 100k — centres drawn from a Gaussian fitted
  to those real centres (mean and full covariance);
* samples: centre + noise drawn from the within-identity covariance measured on the same
  identities (residuals about each identity's mean, corrected for the mean's own error);
* one sample per identity in the gallery; queries are a fresh sample of an enrolled identity
  (80 %) or of a centre never enrolled (20 %).

The synthetic genuine/impostor cosine statistics are printed next to the real ones.

Each size is measured three ways on the same queries in the same process:

* ``numpy exact`` (the baseline): ``gallery @ q``, ``argpartition`` of the top 10, sorted —
  what a face_recognition-style user writes;
* ``FieldID search``: what ``FieldID._search_face`` + the decision do: ``FaissIndex.search``
  for the shortlist (``SearchParams.shortlist`` = 100) under the default index policy
  (``AnnPolicy.from_settings(Settings())``: an exact flat scan below 200k vectors), exact
  re-score of every shortlisted vector from its stored bytes (as ``repo.vector_from_bytes``),
  best per identity, then ``operating_point`` + ``decide`` with the shipped calibration. The
  SQL fetch of the shortlisted template rows is *not* in this figure (it is in the next);
* ``FieldID service`` (at ``--service-sizes``, default 1k): ``FieldID.identify`` end to end on
  real dev photos (decode, extraction, search, calibration, decision, audit and probe-image
  rows in SQLite), with the gallery enrolled through ``enroll_prepared``. Its baseline is
  extraction + the numpy scan of the same probe.

Ratios are FieldID p50 / baseline p50 from this run (below 1 = faster than the baseline).
``--kinds auto,hnsw`` also times a forced HNSW graph (recall@1 against the exact answer).
"""

from __future__ import annotations

import os

# Idle OpenMP/BLAS threads sleep rather than spin (2 shared cores): see benchmarks/scale.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from fieldid.calibration_io import find_calibration  # noqa: E402
from fieldid.config import Settings  # noqa: E402
from fieldid.core.face import extract_face  # noqa: E402
from fieldid.core.face.align import align_views  # noqa: E402
from fieldid.core.face.detect import choose_face, detect_faces  # noqa: E402
from fieldid.core.face.embed import average_views  # noqa: E402
from fieldid.core.face.quality import assess_face, face_measures  # noqa: E402
from fieldid.core.params import FaceParams, SearchParams  # noqa: E402
from fieldid.core.policy import Hit, decide, operating_point  # noqa: E402
from fieldid.errors import FieldIDError  # noqa: E402
from fieldid.eval.extract import extract_faces  # noqa: E402
from fieldid.imaging import decode_image  # noqa: E402
from fieldid.models.registry import FaceModelLoader  # noqa: E402
from fieldid.storage.ann_policy import AnnPolicy  # noqa: E402
from fieldid.storage.faiss_index import FaissIndex  # noqa: E402

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces" / "lfw-deepfunneled-dev"
STAGES = ("decode", "detect", "landmarks", "align", "quality", "embed")
TOP_K = 10
MATED_SHARE = 0.8
SPACE = "bench|dlib-resnet-v1@1"
console = Console(width=None if os.isatty(1) else 150)


def ms_stats(ms: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "mean_ms": round(float(a.mean()), 3), "n": int(len(a))}


def read_manifest(path: Path) -> list[tuple[Path, str]]:
    with open(path, newline="") as fh:
        return [(path.parent / r["path"], r["label"]) for r in csv.DictReader(fh)]


# -- part 1: stages ----------------------------------------------------------------------------
def time_stages(
    paths: list[Path], models_by_name: dict[str, object], params: FaceParams, settings: Settings
) -> tuple[dict, list]:
    """Stage times of every model set, interleaved image by image (so that a change in the
    shared machine's load falls on all of them alike). Returns ({name: stats}, failures)."""
    per_name = {name: (defaultdict(list), defaultdict(list)) for name in models_by_name}
    failures = []
    marks: list[float] = []
    cpu_marks: list[float] = []

    def mark() -> None:
        marks.append(time.perf_counter())
        cpu_marks.append(time.process_time())

    def run(data: bytes, models, times: dict, cpu: dict, record: bool):
        marks.clear()
        cpu_marks.clear()
        mark()
        image = decode_image(data, settings.image_limits)
        mark()
        detections = detect_faces(image.rgb, models.detectors, params.detect)
        if not detections:
            return None
        chosen, _ = choose_face(detections, image.rgb.shape, params.detect)
        mark()
        landmarks = np.asarray(models.landmarks.locate(image.rgb, chosen.box), dtype=np.float32)
        by_count = {5: landmarks}
        if models.landmarks68 is not None:
            by_count[68] = np.asarray(models.landmarks68.locate(image.rgb, chosen.box), dtype=np.float32)
        mark()
        chips = align_views(image.rgb, by_count, chosen.box, models.embedder.alignment, params.align)
        mark()
        quality = assess_face(face_measures(image.rgb, chosen.box, landmarks, chips[0]), params.quality)
        mark()
        vector = average_views(models.embedder.embed(chips, jitters=params.jitters))
        mark()
        if record:
            for i, name in enumerate(STAGES):
                times[name].append((marks[i + 1] - marks[i]) * 1000)
                cpu[name].append((cpu_marks[i + 1] - cpu_marks[i]) * 1000)
            times["total"].append((marks[-1] - marks[0]) * 1000)
            cpu["total"].append((cpu_marks[-1] - cpu_marks[0]) * 1000)
        return vector, quality

    for name, models in models_by_name.items():
        run(paths[0].read_bytes(), models, *per_name[name], record=False)  # warm caches
    for p in paths:
        data = p.read_bytes()  # file reading is not timed
        for name, models in models_by_name.items():
            try:
                out = run(data, models, *per_name[name], record=True)
            except FieldIDError as exc:
                failures.append((name, p.name, exc.code))
                continue
            if out is None:
                failures.append((name, p.name, "no_face_found"))
    # CPU time (all threads of this process) beside wall time: on shared cores, the wall time
    # includes waiting for a core.
    return {name: {stage: {**ms_stats(v), "cpu_p50_ms": round(float(np.median(cpu[stage])), 3)}
                   for stage, v in times.items()}
            for name, (times, cpu) in per_name.items()}, failures


# -- part 2: galleries with identity structure ----------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class IdentityModel:
    """Identity centres and within-identity noise measured on real dev embeddings."""

    def __init__(self, vectors: np.ndarray, labels: list[str], seed: int) -> None:
        by_label: dict[str, list[int]] = defaultdict(list)
        for i, label in enumerate(labels):
            by_label[label].append(i)
        groups = [np.asarray(ix) for ix in by_label.values() if len(ix) >= 2]
        means = np.stack([vectors[g].mean(0) for g in groups])
        # Residuals about a mean of n points have variance (n-1)/n of the noise: undo that.
        residuals = np.concatenate([(vectors[g] - vectors[g].mean(0)) * np.sqrt(len(g) / (len(g) - 1))
                                    for g in groups])
        self.real_centres = _unit(means)
        self.identities_real = len(groups)
        self.mu = means.mean(0)
        self.between = _sqrt_cov(np.cov(means, rowvar=False))
        self.within = _sqrt_cov(residuals.T @ residuals / len(residuals))
        self.rng = np.random.default_rng(seed)
        self.vectors, self.labels = vectors, labels

    def centres(self, n: int) -> np.ndarray:
        """n identity centres: the real ones first, then Gaussian ones like them."""
        real = self.real_centres[self.rng.permutation(len(self.real_centres))[:n]]
        return np.concatenate([real, self.new_centres(n - len(real))]) if n > len(real) else real

    def new_centres(self, n: int) -> np.ndarray:
        z = self.rng.standard_normal((n, len(self.mu)), dtype=np.float32)
        return _unit(self.mu + z @ self.between.T)

    def samples(self, centres: np.ndarray) -> np.ndarray:
        z = self.rng.standard_normal(centres.shape, dtype=np.float32)
        return _unit(centres + z @ self.within.T)

    def stats(self) -> dict[str, float]:
        """Genuine/impostor cosine of the real dev embeddings and of synthetic samples."""
        rng = np.random.default_rng(0)
        idx = defaultdict(list)
        for i, label in enumerate(self.labels):
            idx[label].append(i)
        gen = [float(self.vectors[g[0]] @ self.vectors[g[1]]) for g in idx.values() if len(g) >= 2]
        a, b = rng.integers(0, len(self.vectors), (2, 20000))
        keep = [i for i in range(len(a)) if self.labels[a[i]] != self.labels[b[i]]]
        imp = (self.vectors[a[keep]] * self.vectors[b[keep]]).sum(1)
        c = self.centres(2000)
        s1, s2 = self.samples(c), self.samples(c)
        sgen = (s1 * s2).sum(1)
        simp = (s1[:-1] * s2[1:]).sum(1)
        r = lambda x: round(float(x), 3)  # noqa: E731
        return {
            "real_genuine_cos_mean": r(np.mean(gen)), "real_impostor_cos_mean": r(imp.mean()),
            "real_impostor_cos_sd": r(imp.std()), "synthetic_genuine_cos_mean": r(sgen.mean()),
            "synthetic_impostor_cos_mean": r(simp.mean()), "synthetic_impostor_cos_sd": r(simp.std()),
            "real_centres": self.identities_real,
        }


def _sqrt_cov(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0, None))).astype(np.float32)


def make_queries(model: IdentityModel, centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries and their true gallery row (-1: never enrolled)."""
    mated = int(n * MATED_SHARE)
    rows = model.rng.choice(len(centres), mated, replace=False)
    probes = np.concatenate([model.samples(centres[rows]), model.samples(model.new_centres(n - mated))])
    return probes, np.concatenate([rows, np.full(n - mated, -1)])


def numpy_exact(gallery: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = gallery @ q
    top = np.argpartition(scores, -k)[-k:]
    return top[np.argsort(-scores[top])]


def timed(fn, queries: np.ndarray) -> tuple[list, np.ndarray]:
    for q in queries[:3]:
        fn(q)  # warm
    out, ms = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        ms.append((time.perf_counter() - t) * 1000)
    return out, np.array(ms)


def bench_search(
    size: int, kinds: list[str], model: IdentityModel, args, workdir: Path, cal, quality
) -> list[dict]:
    centres = model.centres(size)
    gallery = model.samples(centres)
    queries, truth = make_queries(model, centres, args.queries)
    rows: list[dict] = []

    base_hits, base_ms = timed(lambda q: numpy_exact(gallery, q, TOP_K), queries)
    base = ms_stats(base_ms)
    mated = truth >= 0
    base_rank1 = float(np.mean([h[0] == t for h, t in zip(base_hits, truth, strict=True) if t >= 0]))
    rows.append({"gallery_size": size, "path": "numpy exact (baseline)", **base, "ratio_p50": 1.0,
                 "mated_rank1": round(base_rank1, 4), "agree_top1_with_exact": 1.0})

    policy = dataclasses.replace(AnnPolicy.from_settings(Settings()), background_build=False)
    index = FaissIndex(workdir / f"faiss-{size}", save_every=10**9, policy=policy)
    ids = np.arange(size, dtype=np.int64)
    index.add(SPACE, ids, gallery)
    stored = {int(i): gallery[i].tobytes() for i in ids}  # the template rows' vector bytes
    labels = [f"identity-{i}" for i in range(size)]
    shortlist = max(SearchParams().shortlist, TOP_K * 10)
    point_n = size

    def fieldid_search(q: np.ndarray) -> tuple[list, float, float, float]:
        t0 = time.perf_counter()
        hits = index.search([SPACE], q[None, :], shortlist)[0]
        t1 = time.perf_counter()
        best: dict[str, float] = {}
        for h in hits:  # as FieldID._search_face: exact re-score from the stored bytes
            score = float(np.dot(np.frombuffer(stored[h.vector_id], np.float32), q))
            key = labels[h.vector_id]
            if score > best.get(key, -2.0):
                best[key] = score
        t2 = time.perf_counter()
        point = operating_point(cal, 0.01, point_n)
        decision = decide(cal, [Hit(k, s) for k, s in best.items()], quality, point, top_k=TOP_K,
                          investigative=True)
        t3 = time.perf_counter()
        ranked = [int(c.key.rsplit("-", 1)[1]) for c in decision.candidates]
        return ranked, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000

    for kind in kinds:
        if kind != "auto":
            index.policy = dataclasses.replace(policy, kind=kind, ann_min_vectors=1)
            t = time.perf_counter()
            index.rebuild(SPACE, kind).result()
            build_s = time.perf_counter() - t
        else:
            build_s = 0.0
        used = index.stats()[SPACE].get("kind", kind)
        out, ms = timed(fieldid_search, queries)
        hits = [o[0] for o in out]
        parts = np.array([o[1:] for o in out])
        rank1 = float(np.mean([bool(h) and h[0] == t for h, t in zip(hits, truth, strict=True) if t >= 0]))
        agree = float(np.mean([bool(h) and h[0] == b[0] for h, b in zip(hits, base_hits, strict=True)]))
        s = ms_stats(ms)
        rows.append({
            "gallery_size": size, "path": f"FieldID search ({kind}: {used})", **s,
            "ratio_p50": round(s["p50_ms"] / base["p50_ms"], 3),
            "index_p50_ms": round(float(np.median(parts[:, 0])), 3),
            "rescore_p50_ms": round(float(np.median(parts[:, 1])), 3),
            "decide_p50_ms": round(float(np.median(parts[:, 2])), 3),
            "build_s": round(build_s, 2), "mated_rank1": round(rank1, 4),
            "agree_top1_with_exact": round(agree, 4),
        })
        console.print(f"  {rows[-1]['path']}: p50 {s['p50_ms']:.2f} ms (baseline {base['p50_ms']:.2f} ms)")
    console.print(f"  mated queries {int(mated.sum())}, baseline rank-1 {base_rank1:.3f}")
    index.close()
    return rows


# -- part 2b: the service end to end ------------------------------------------------------------------
def bench_service(size: int, model: IdentityModel, probes: list[tuple[Path, str]], embeddings: dict,
                  loader: FaceModelLoader, workdir: Path, params: FaceParams) -> list[dict]:
    from fieldid.governance.admin import SYSTEM
    from fieldid.governance.roles import Role
    from fieldid.service import EnrollmentInfo, FieldID, PreparedSample, SearchContext
    from fieldid.storage.sql import SqlStore
    from fieldid.types import frozen_array

    settings = Settings(data_dir=workdir / f"service-{size}", environment="test", duplicate_check=False,
                        rate_limit_per_minute=10**6, rate_alert_per_hour=10**7)
    svc = FieldID(settings, SqlStore(settings.resolved_database_url),
                  FaissIndex(settings.index_dir, policy=AnnPolicy.from_settings(settings)),
                  face_models=loader)
    try:
        svc.create_agency(SYSTEM, "bench", "Benchmark agency")
        for user, role in (("bench-admin", Role.AGENCY_ADMIN), ("bench-officer", Role.OFFICER)):
            svc.create_user(SYSTEM, user, role, agency_id="bench")
        admin = svc.actor_for("bench-admin", via="bench")
        officer = svc.actor_for("bench-officer", via="bench")
        svc.create_gallery(admin, "bench", target_fpir=0.01)
        info = EnrollmentInfo(source="benchmark", legal_basis="benchmark:synthetic")
        # The probes' identities, each from another real photo of the person where there is one …
        probe_labels = {label for _, label in probes}
        probe_paths = {q for q, _ in probes}
        mates = [p for p, label in embeddings["items"] if label in probe_labels and p not in probe_paths]
        real = []
        for p in mates:
            if len(real) >= size // 2:
                break
            try:
                prepared = svc.prepare_sample(p.read_bytes())
            except FieldIDError:
                continue
            if prepared.template.quality.acceptable:
                real.append(prepared)
        template = next(t for t in (s.template for s in real) if t.quality.acceptable) if real else next(
            t for t in (_try_template(svc, p) for p, _ in probes) if t is not None and t.quality.acceptable)
        # … then synthetic identities with the structure of real ones.
        fill = model.samples(model.centres(size - len(real)))
        t = time.perf_counter()
        for s in real:
            svc.enroll_prepared(officer, "bench", [s], info)
        for v in fill:
            tpl = dataclasses.replace(template, embedding=frozen_array(v, np.float32))
            svc.enroll_prepared(officer, "bench", [PreparedSample("0" * 64, "JPEG", b"", tpl)], info)
        enrol_s = time.perf_counter() - t
        ctx = SearchContext(purpose="criminal_investigation", case_number="BENCH-1", legal_basis="benchmark")
        gallery_ids = svc.index.ids(svc.index.spaces()[0])
        _, vectors, _ = svc.index.vectors_view(svc.index.spaces()[0])
        gallery = np.ascontiguousarray(vectors[: len(gallery_ids)])
        datas = [p.read_bytes() for p, _ in probes]
        svc.identify(officer, ["bench"], datas[0], ctx)  # warm
        ms, outcomes = [], defaultdict(int)
        for d in datas:
            t = time.perf_counter()
            try:
                r = svc.identify(officer, ["bench"], d, ctx)
                outcomes[r.outcome] += 1
            except FieldIDError as exc:
                outcomes[exc.code] += 1
            ms.append((time.perf_counter() - t) * 1000)
        models = loader.get()
        base_ms = []
        for d in datas:
            t = time.perf_counter()
            try:
                tpl = extract_face(decode_image(d, settings.image_limits).rgb, models, params)
                numpy_exact(gallery, np.asarray(tpl.embedding), TOP_K)
            except FieldIDError:
                pass
            base_ms.append((time.perf_counter() - t) * 1000)
    finally:
        svc.close()
    s, b = ms_stats(ms), ms_stats(base_ms)
    console.print(f"  service identify p50 {s['p50_ms']:.1f} ms; extract + numpy p50 {b['p50_ms']:.1f} ms; "
                  f"enrolment {size / enrol_s:.0f}/s")
    return [
        {"gallery_size": size, "path": "extract + numpy exact (baseline)", **b, "ratio_p50": 1.0},
        {"gallery_size": size, "path": "FieldID service identify", **s,
         "ratio_p50": round(s["p50_ms"] / b["p50_ms"], 3), "outcomes": dict(outcomes),
         "enrol_per_s": round(size / enrol_s, 1), "real_photos_enrolled": len(real)},
    ]


def _try_template(svc, path: Path):
    try:
        return svc.prepare_sample(path.read_bytes()).template
    except FieldIDError:
        return None


# -- output ------------------------------------------------------------------------------------
def print_model_ratios(by_model: dict, default: str) -> None:
    """Per stage, each model's p50 and CPU p50 against the first other model (the baseline)."""
    others = [m for m in by_model if m != default]
    if not others:
        return
    base = others[0]
    t = Table(title=f"Stage times against the baseline {base} (same images, interleaved)")
    for col in ("stage", f"{default} CPU p50 ms", f"{base} CPU p50 ms", "× baseline (CPU)",
                "× baseline (wall)"):
        t.add_column(col, justify="right")
    for stage in (*STAGES, "total"):
        a, b = by_model[default][stage], by_model[base][stage]
        t.add_row(stage, f"{a['cpu_p50_ms']:.1f}", f"{b['cpu_p50_ms']:.1f}",
                  f"{a['cpu_p50_ms'] / max(b['cpu_p50_ms'], 1e-9):.2f}",
                  f"{a['p50_ms'] / max(b['p50_ms'], 1e-9):.2f}")
    console.print(t)


def print_tables(stages: dict, rows: list[dict]) -> None:
    t = Table(title="Face pipeline, ms per image (one thread)")
    for col in ("stage", "p50 ms", "p95 ms", "mean ms", "CPU p50 ms", "share of total (mean)"):
        t.add_column(col, justify="right")
    total = stages["total"]["mean_ms"]
    for name in (*STAGES, "total"):
        s = stages[name]
        t.add_row(name, f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['mean_ms']:.2f}",
                  f"{s['cpu_p50_ms']:.2f}",
                  f"{s['mean_ms'] / total:.0%}")
    console.print(t)
    t = Table(title="Identify latency vs gallery size (ratio = p50 / baseline p50, same run)")
    cols = [("gallery_size", "gallery"), ("path", "path"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
            ("ratio_p50", "× baseline"), ("index_p50_ms", "index ms"), ("rescore_p50_ms", "re-score ms"),
            ("decide_p50_ms", "decide ms"), ("mated_rank1", "rank-1"),
            ("agree_top1_with_exact", "top-1 = exact")]
    for _, title in cols:
        t.add_column(title, justify="right")
    for r in rows:
        t.add_row(*[f"{r[k]:,}" if isinstance(r.get(k), int) else str(r.get(k, "")) for k, _ in cols])
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=DEV / "manifest.csv")
    ap.add_argument("--images", type=int, default=50, help="images timed per stage")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--kinds", default="auto", help="index kinds: auto (the service default), hnsw, ivfpq")
    ap.add_argument("--service-sizes", default="1000",
                    help="sizes for the end-to-end service run ('' = none)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--cache", type=Path, default=Path("var/cache/embeddings"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/face_pipeline.json"))
    ap.add_argument("--baseline-views", default="lm5",
                    help="face_views of the stage-time baseline timed in the same run ('' = none)")
    args = ap.parse_args()

    settings = Settings()
    params = FaceParams()
    items = read_manifest(args.manifest)
    step = max(1, len(items) // args.images)
    chosen = items[::step][: args.images]
    loader = FaceModelLoader(settings)
    t = time.perf_counter()
    models = loader.get()
    load_s = time.perf_counter() - t
    meta = {"machine": platform.machine(), "cores": os.cpu_count(), "load_avg_start": os.getloadavg(),
            "model_load_s": round(load_s, 2), "model_id": models.embedder.model_id,
            "images": len(chosen), "image_size": "250x250 (LFW deep-funneled)",
            "args": {k: str(v) for k, v in vars(args).items()}}
    console.rule("stages")
    timed = {models.embedder.model_id: models}
    if args.baseline_views and args.baseline_views != settings.face_views:
        baseline = FaceModelLoader(Settings(face_views=args.baseline_views)).get()
        timed[baseline.embedder.model_id] = baseline
    by_model, failures = time_stages([p for p, _ in chosen], timed, params, settings)
    stages = by_model[models.embedder.model_id]
    meta["stage_failures"] = failures

    console.rule("dev embeddings (cache)")
    extracted = extract_faces([p for p, _ in items], settings, cache_dir=args.cache, quiet=True)
    ok = [(p, label) for p, label in items if extracted[p].embedding is not None]
    vectors = np.stack([extracted[p].embedding for p, _ in ok]).astype(np.float32)
    model = IdentityModel(vectors, [label for _, label in ok], args.seed)
    meta |= model.stats()
    console.print({k: v for k, v in meta.items() if "cos" in k or k == "real_centres"})
    cal = find_calibration(models.embedder.model_id, settings.calibration_dir)
    meta["calibration"] = {"dataset": cal.dataset, "created": cal.created,
                           "impostor_pairs": cal.impostor_pairs}
    probe_quality = None  # of a usable probe: the decision runs as it does for one
    for p, _ in chosen:
        try:
            quality = extract_face(decode_image(p.read_bytes()).rgb, models, params).quality
        except FieldIDError:
            continue
        if quality.acceptable:
            probe_quality = quality
            break

    workdir = Path(tempfile.mkdtemp(prefix="fieldid-facebench-"))
    rows: list[dict] = []
    result = {"meta": meta, "stages": stages, "identify": rows,
              "stages_by_model": by_model}
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            console.rule(f"gallery of {size:,}")
            rows.extend(bench_search(size, [k for k in args.kinds.split(",") if k], model, args, workdir, cal,
                                     probe_quality))
            gc.collect()
        for size in [int(s) for s in args.service_sizes.split(",") if s]:
            console.rule(f"service, gallery of {size:,}")
            rows.extend(bench_service(size, model, chosen, {"items": ok}, loader, workdir, params))
            gc.collect()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["load_avg_end"] = os.getloadavg()
    print_tables(stages, rows)
    print_model_ratios(by_model, models.embedder.model_id)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
