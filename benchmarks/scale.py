"""Scale benchmark of the vector indexes on synthetic faces with identity structure.

    python benchmarks/scale.py --sizes 10000,100000,1000000 --json OUT.json
    python benchmarks/scale.py --sizes 10000000 --kinds ivfpq --json OUT10M.json

Gallery: ``gallery_size`` 128-d unit vectors (the dlib model's dimension), two samples per
identity. Identity centres lie on the sphere around a common direction with an anisotropic
spread; each sample adds noise of a random strength. Queries are a third sample of enrolled
identities (80 %) or someone never enrolled (20 %). Plain random unit vectors would make
every neighbour equally far and recall meaningless. Two profiles (--profile):

* ``dlib`` (default), fitted to dlib ResNet embeddings of 799 LFW images measured here
  (genuine cosine 0.951, impostor 0.835 ± 0.035, effective dimension of the spread 30.8):
  synthetic genuine 0.955, impostor 0.826 ± 0.040, effective dimension 30.6;
* ``hard``: a flatter spread (effective dimension ≈ 57, impostor 0.45 ± 0.08, genuine 0.89),
  harder for every approximate index than real faces.

For each size, one ``FaissIndex`` holds the vectors; each approximate kind is built over
them in turn and measured against exact search over the same vectors: single-query latency
p50/p99 (the service searches one probe at a time), recall@1/@10, build time and memory.
The peer baseline is what a face_recognition user does — ``np.linalg.norm(known - probe,
axis=1)`` over every encoding, then the smallest distances — run on the same queries in the
same process; speed-ups are baseline p50 / index p50, quoted at the recall each row reached
(the baseline's is 1.0). Milvus Lite (embedded) is measured at the sizes given by --milvus.
"""

from __future__ import annotations

import os

# Idle OpenMP/BLAS worker threads sleep instead of spinning: on a machine whose cores are
# shared (here: 2 cores, other jobs running) spinning makes a 0.1 ms search take ~10 ms.
# Set before numpy/faiss load their thread pools; the server should run with the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from fieldid.storage.ann_policy import AnnPolicy
from fieldid.storage.faiss_index import FaissIndex

DIM = 128
SAMPLES_PER_IDENTITY = 2
MATED_SHARE = 0.8
#: Per profile: weight of the common direction (impostor cosine ≈ b²/(1+b²)), decay power of
#: the identity spread over directions, and the range of per-sample noise sd per dimension.
PROFILES = {
    "dlib": (2.5, 1.0, (0.013, 0.025)),
    "hard": (1.0, 0.7, (0.022, 0.040)),
}
CHUNK = 250_000
SPACE = "bench|synthetic-128"
#: CPU time of each query of the last ``latencies`` call (all threads of this process): what a
#: query costs on an idle core, when other jobs on a shared machine inflate the wall time.
LAST_CPU_MS: list[float] = []
console = Console(width=None if os.isatty(1) else 160)


# -- synthetic faces -------------------------------------------------------------------------
class FaceModel:
    """A fixed synthetic 'face model': where identities sit and how samples scatter."""

    def __init__(self, seed: int, profile: str = "dlib") -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.bias, power, self.noise = PROFILES[profile]
        mean = rng.normal(size=DIM)
        self.mean = (mean / np.linalg.norm(mean)).astype(np.float32)
        spectrum = np.arange(1, DIM + 1, dtype=np.float64) ** -power
        scale = np.sqrt(spectrum / spectrum.sum())  # E|spread|² = 1
        rotation, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
        self.mix = (rotation * scale).astype(np.float32)  # spread = mix @ z

    def centres(self, first: int, count: int, stream: int = 1) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream, first])
        z = rng.standard_normal((count, DIM), dtype=np.float32)
        return _unit(self.bias * self.mean + z @ self.mix.T)

    def samples(self, centres: np.ndarray, stream: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2, stream])  # stream ≥ 0
        sd = rng.uniform(*self.noise, size=(len(centres), 1)).astype(np.float32)
        return _unit(centres + sd * rng.standard_normal(centres.shape, dtype=np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def gallery_chunks(model: FaceModel, size: int):
    """(ids, vectors) chunks: identity i's samples get ids 2i and 2i+1."""
    identities = size // SAMPLES_PER_IDENTITY
    step = CHUNK // SAMPLES_PER_IDENTITY
    for first in range(0, identities, step):
        count = min(step, identities - first)
        centres = model.centres(first, count)
        a, b = model.samples(centres, 2 * first), model.samples(centres, 2 * first + 1)
        vectors = np.empty((2 * count, DIM), np.float32)
        vectors[0::2], vectors[1::2] = a, b
        yield np.arange(2 * first, 2 * (first + count), dtype=np.int64), vectors


def make_queries(model: FaceModel, size: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([model.seed, 3, size])
    identities = size // SAMPLES_PER_IDENTITY
    mated = int(n * MATED_SHARE)
    chosen = np.sort(rng.choice(identities, mated, replace=False))
    step = CHUNK // SAMPLES_PER_IDENTITY
    centres = []
    for first in np.unique(chosen // step * step):  # regenerate each needed chunk once
        block = model.centres(int(first), min(step, identities - int(first)))
        centres.append(block[chosen[(chosen >= first) & (chosen < first + step)] - first])
    strangers = model.centres(size, n - mated, stream=4)  # never enrolled
    probe_stream = 10**12 + size  # no gallery sample uses it
    mated_probes = model.samples(np.concatenate(centres), probe_stream)
    return np.concatenate([mated_probes, model.samples(strangers, probe_stream + 1)])


def similarity_stats(model: FaceModel) -> dict:
    centres = model.centres(0, 2000)
    a, b = model.samples(centres, 0), model.samples(centres, 1)
    genuine = (a * b).sum(1)
    impostor = (a[:-1] * b[1:]).sum(1)
    return {
        "genuine_cos_mean": round(float(genuine.mean()), 3),
        "genuine_cos_p5": round(float(np.percentile(genuine, 5)), 3),
        "impostor_cos_mean": round(float(impostor.mean()), 3),
        "impostor_cos_sd": round(float(impostor.std()), 3),
        "impostor_cos_max": round(float(impostor.max()), 3),
    }


# -- measuring -------------------------------------------------------------------------------
def rss_bytes(field: str = "VmRSS") -> int:
    """Resident memory now (VmRSS) or at its peak so far (VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=True)


def latencies(search, queries: np.ndarray, k: int) -> tuple[list, np.ndarray]:
    for q in queries[:3]:
        search(q[None, :], k)  # warm caches
    hits, times, cpu = [], [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        hits.append(search(q[None, :], k)[0])
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    LAST_CPU_MS[:] = (np.array(cpu) * 1000).tolist()
    return hits, np.array(times) * 1000


def recall(hits: list, truth: list, at: int) -> float:
    got = [
        len({h.vector_id for h in a[:at]} & {h.vector_id for h in b[:at]}) / min(at, max(1, len(b)))
        for a, b in zip(hits, truth, strict=True)
    ]
    return float(np.mean(got))


def face_recognition_baseline(
    vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int
) -> np.ndarray:
    """face_recognition's ``face_distance`` (norm of differences) over every encoding, chunked
    by 1M rows so 10M fits; returns per-query milliseconds."""
    times, cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        best_d, best_i = [], []
        for start in range(0, len(vectors), 1_000_000):
            d = np.linalg.norm(vectors[start : start + 1_000_000] - q, axis=1)
            top = np.argpartition(d, k)[:k] if len(d) > k else np.arange(len(d))
            best_d.append(d[top])
            best_i.append(ids[start + top])
        d, i = np.concatenate(best_d), np.concatenate(best_i)
        _ = i[np.argsort(d)[:k]]
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    LAST_CPU_MS[:] = (np.array(cpu) * 1000).tolist()
    return np.array(times) * 1000


def row(size: int, index: str, profile: str, **values) -> dict:
    out = {"gallery_size": size, "index": index, "profile": profile}
    out["identities"] = size // SAMPLES_PER_IDENTITY
    out.update(values)
    return out


def bench_faiss(size: int, kinds: list[str], model: FaceModel, args, workdir: Path) -> list[dict]:
    rows: list[dict] = []
    policy = AnnPolicy(kind="flat", background_build=False, hnsw_m=args.hnsw_m,
                       hnsw_ef_construction=args.ef_construction, hnsw_ef_search=args.ef_search,
                       ivf_nprobe=args.nprobe, pq_m=args.pq_m, rescore_factor=args.rescore)
    gc.collect()
    rss0 = rss_bytes()
    index = FaissIndex(workdir / f"faiss-{size}", policy=policy)
    index.reserve(SPACE, DIM, size + args.enrol_probe)  # room for the single enrolments too
    t_add = 0.0
    with progress_bar() as bar:
        task = bar.add_task(f"{size:,}: generate + enrol", total=size)
        for ids, vectors in gallery_chunks(model, size):
            t = time.perf_counter()
            index.add(SPACE, ids, vectors)
            t_add += time.perf_counter() - t
            bar.advance(task, len(ids))
    enrol_rate = size / t_add
    queries = make_queries(model, size, args.queries)

    def search_exact(q: np.ndarray, k: int) -> list:
        return index.search_exact([SPACE], q, k)

    def search_ann(q: np.ndarray, k: int) -> list:
        return index.search([SPACE], q, k)
    t = time.perf_counter()
    truth = index.search_exact([SPACE], queries, 10)
    console.print(f"  exact ground truth for {len(queries)} queries: {time.perf_counter() - t:.1f} s")
    store_bytes = index.stats()[SPACE]["store_bytes"]

    ids_view, vectors_view, _ = index.vectors_view(SPACE)
    n_base = min(len(queries), args.baseline_queries)
    base_ms = face_recognition_baseline(vectors_view, ids_view, queries[:n_base], 10)
    base_p50 = float(np.percentile(base_ms, 50))
    base_cpu_p50 = float(np.percentile(LAST_CPU_MS, 50))
    console.print(f"  face_recognition-style scan: p50 {base_p50:.1f} ms over {n_base} queries")

    for kind in kinds:
        # The policy names the kind measured, so enrolments below do not switch it back.
        index.policy = dataclasses.replace(policy, kind=kind, ann_min_vectors=1)
        build_s = 0.0
        if kind != "flat":
            with progress_bar() as bar:
                task = bar.add_task(f"{size:,}: build {kind}", total=size)

                def advance(done: int, total: int, bar=bar, task=task) -> None:
                    bar.update(task, completed=done)

                t = time.perf_counter()
                index.rebuild(SPACE, kind, progress=advance).result()
                build_s = time.perf_counter() - t
            search = search_ann
        else:
            search = search_exact
        stats = index.stats()[SPACE]
        n_q = len(queries) if kind != "flat" else min(len(queries), args.exact_queries)
        hits, ms = latencies(search, queries[:n_q], 10)
        cpu_p50 = float(np.percentile(LAST_CPU_MS, 50))
        rss_delta = rss_bytes() - rss0  # before the enrolments below
        # Enrolment into the built index, one template per call as the service does; then undone.
        extra = make_queries(model, size + 1, args.enrol_probe)
        new_ids = np.arange(10**12, 10**12 + len(extra), dtype=np.int64)
        t = time.perf_counter()
        for i, v in zip(new_ids, extra, strict=True):
            index.add(SPACE, i[None], v[None, :])
        single_rate = len(extra) / (time.perf_counter() - t)
        index.remove(SPACE, new_ids)
        index_bytes = store_bytes + stats["ann_bytes"]
        p50 = float(np.percentile(ms, 50))
        rows.append(row(
            size, f"faiss-{kind}", args.profile, build_s=round(build_s, 2), p50_ms=round(p50, 3),
            p99_ms=round(float(np.percentile(ms, 99)), 3),
            recall_at_1=round(recall(hits, truth[:n_q], 1), 4),
            recall_at_10=round(recall(hits, truth[:n_q], 10), 4),
            bytes_per_vector=round(index_bytes / size, 1),
            bytes_per_identity=round(index_bytes / size * SAMPLES_PER_IDENTITY, 1),
            index_bytes=index_bytes, rss_delta_bytes=rss_delta, rss_peak_bytes=rss_bytes("VmHWM"),
            baseline_p50_ms=round(base_p50, 2), speedup_vs_baseline=round(base_p50 / p50, 1),
            bulk_enrol_per_s=round(enrol_rate), single_enrol_per_s=round(single_rate), queries=n_q,
            cpu_p50_ms=round(cpu_p50, 3), baseline_cpu_p50_ms=round(base_cpu_p50, 2),
            cpu_speedup_vs_baseline=round(base_cpu_p50 / max(cpu_p50, 1e-6), 1),
        ))
        r = rows[-1]
        console.print(f"  {kind}: p50 {p50:.2f} ms, recall@10 {r['recall_at_10']}, build {build_s:.1f} s")
    return rows  # the index is freed with this frame; the caller collects


def baseline_only(size: int, model: FaceModel, args) -> float:
    """The face_recognition-style p50 when no FAISS kind ran at this size."""
    ids, vectors = map(np.concatenate, zip(*gallery_chunks(model, size), strict=True))
    queries = make_queries(model, size, args.baseline_queries)
    return float(np.percentile(face_recognition_baseline(vectors, ids, queries, 10), 50))


def bench_milvus(size: int, model: FaceModel, args, workdir: Path, base_p50: float | None) -> dict:
    from fieldid.storage.milvus_index import MilvusIndex, MilvusOptions

    options = MilvusOptions(index_type="HNSW", hnsw_m=args.hnsw_m, partitions=16,
                            hnsw_ef_construction=args.ef_construction, hnsw_ef_search=args.ef_search)
    db = workdir / f"milvus-{size}.db"
    index = MilvusIndex(str(db), options)
    exact = FaissIndex(workdir / f"milvus-truth-{size}")
    t0 = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"{size:,}: Milvus Lite insert", total=size)
        for ids, vectors in gallery_chunks(model, size):
            index.add(SPACE, ids, vectors)
            exact.add(SPACE, ids, vectors)
            bar.advance(task, len(ids))
    index.flush(force=True)
    indexed = index.wait_for_index()
    queries = make_queries(model, size, args.queries)
    index.search([SPACE], queries[:1], 10)  # the first search waits for the index to be loaded
    build_s = time.perf_counter() - t0
    truth = exact.search_exact([SPACE], queries, 10)
    hits, ms = latencies(lambda q, k: index.search([SPACE], q, k), queries, 10)
    disk = sum(p.stat().st_size for p in db.parent.rglob("*") if p.is_file() and "milvus" in str(p))
    index.close()
    p50 = float(np.percentile(ms, 50))
    return row(
        size, "milvus-lite-hnsw", args.profile, build_s=round(build_s, 2), p50_ms=round(p50, 3),
        p99_ms=round(float(np.percentile(ms, 99)), 3), recall_at_1=round(recall(hits, truth, 1), 4),
        recall_at_10=round(recall(hits, truth, 10), 4), bytes_per_vector=None, bytes_per_identity=None,
        disk_bytes=disk, baseline_p50_ms=round(base_p50, 2) if base_p50 else None,
        speedup_vs_baseline=round(base_p50 / p50, 1) if base_p50 else None,
        bulk_enrol_per_s=round(size / build_s), queries=len(queries), fully_indexed=indexed,
    )


def print_table(rows: list[dict]) -> None:
    table = Table(title=f"FieldID index scale benchmark ({DIM}-d, {os.cpu_count()} cores)")
    cols = [
        ("gallery_size", "gallery"), ("index", "index"), ("build_s", "build s"), ("p50_ms", "p50 ms"),
        ("p99_ms", "p99 ms"), ("cpu_p50_ms", "CPU p50 ms"), ("recall_at_1", "R@1"),
        ("recall_at_10", "R@10"), ("bytes_per_vector", "B/vector"), ("baseline_p50_ms", "baseline p50 ms"),
        ("speedup_vs_baseline", "× baseline"), ("cpu_speedup_vs_baseline", "× baseline CPU"),
        ("bulk_enrol_per_s", "enrol/s bulk"), ("single_enrol_per_s", "enrol/s single"),
    ]
    for _, title in cols:
        table.add_column(title, justify="right")
    for r in rows:
        cells = [f"{r[key]:,}" if isinstance(r.get(key), int) else str(r.get(key, "")) for key, _ in cols]
        table.add_row(*cells)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq", help="FAISS kinds to measure at every size")
    parser.add_argument("--milvus", default="10000,100000", help="sizes to run Milvus Lite at ('' = none)")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exact-queries", type=int, default=100, help="queries timed on the exact scan")
    parser.add_argument("--baseline-queries", type=int, default=30)
    parser.add_argument("--enrol-probe", type=int, default=500, help="single enrolments timed per kind")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=AnnPolicy.hnsw_ef_construction)
    parser.add_argument("--ef-search", type=int, default=AnnPolicy.hnsw_ef_search)
    parser.add_argument("--nprobe", type=int, default=128)
    parser.add_argument("--pq-m", type=int, default=64)
    parser.add_argument("--rescore", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dlib", help="synthetic face model")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    model = FaceModel(args.seed, args.profile)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    kinds = [k for k in args.kinds.split(",") if k]
    milvus_sizes = {int(s) for s in args.milvus.split(",") if s}
    meta = {"machine": platform.machine(), "cores": os.cpu_count(), "load_avg_start": os.getloadavg(),
            "profile": args.profile}
    meta |= similarity_stats(model)
    console.print(f"synthetic faces: {meta}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fieldid-scale-"))
    rows: list[dict] = []
    try:
        for size in sizes:
            console.rule(f"gallery of {size:,} faces")
            faiss_rows = bench_faiss(size, kinds, model, args, workdir) if kinds else []
            gc.collect()
            rows.extend(faiss_rows)
            if size in milvus_sizes:
                base = faiss_rows[0]["baseline_p50_ms"] if faiss_rows else baseline_only(size, model, args)
                rows.append(bench_milvus(size, model, args, workdir, base))
            for r in rows:
                r.setdefault("load_avg", os.getloadavg()[0])
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(rows, indent=1))  # after every size: a long run keeps its results
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)
    meta["load_avg_end"] = os.getloadavg()
    args.json.with_suffix(".meta.json").write_text(json.dumps(meta, indent=1))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
