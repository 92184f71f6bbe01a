"""Load test: identify requests at a fixed arrival rate against a served FieldID on loopback.

    .venv/bin/python benchmarks/load.py --gallery 100000 --rate 50 --duration 300 --json benchmarks/results/load.json

Starts ``fieldid serve`` on 127.0.0.1 (never anything else) over a temporary data directory
whose gallery holds ``--gallery`` synthetic identities (identity-structured 128-d vectors
written straight into the store and the index, so that the search cost is that of a real
gallery of that size), then sends ``POST /v1/identify`` with real dev-set face photos at
``--rate`` requests per second (open loop: arrivals do not wait for answers) for
``--duration`` seconds, and reports latency percentiles, errors and the rate actually served.
The baseline in the same run is the server's answer time for one request alone (no load):
latency under load is reported as a ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fieldid.config import Settings, default_shared_data  # noqa: E402

console = Console()


def populate(settings: Settings, size: int, seed: int = 0) -> tuple[str, str]:
    """Agency, officer key and a gallery of ``size`` synthetic identities; returns (key, gallery)."""
    from sqlalchemy import insert

    from fieldid.governance.admin import SYSTEM
    from fieldid.governance.roles import Role
    from fieldid.service import FieldID
    from fieldid.storage import repo
    from fieldid.storage.base import space_key
    from fieldid.storage.tables import Gallery, Identity, Sample, Template

    service = FieldID.open(settings, reconcile=False)
    try:
        service.create_agency(SYSTEM, "load", "Load test agency")
        service.create_user(SYSTEM, "load-admin", Role.AGENCY_ADMIN, agency_id="load")
        service.create_user(SYSTEM, "load-officer", Role.OFFICER, agency_id="load")
        key = service.issue_api_key(SYSTEM, "load-officer").api_key
        gallery = service.create_gallery(service.actor_for("load-admin"), "load", target_fpir=0.01)
        model = service.face_model_id()
        rng = np.random.default_rng(seed)
        now = datetime.now(UTC)
        batch = 5000
        with Progress(console=console) as bar:
            task = bar.add_task(f"Enrolling {size:,} synthetic identities", total=size)
            for start in range(0, size, batch):
                n = min(batch, size - start)
                centres = rng.normal(size=(n, 128)).astype(np.float32)
                vectors = centres + 0.25 * rng.normal(size=(n, 128)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                ids = [str(uuid.uuid4()) for _ in range(n)]
                samples = [str(uuid.uuid4()) for _ in range(n)]
                with service.store.write() as s:
                    s.execute(insert(Identity), [
                        {"id": i, "gallery_id": gallery.id, "agency_id": "load", "pseudonym": f"LOAD-{start + j}",
                         "display_name": "", "created_at": now, "created_by": "load"} for j, i in enumerate(ids)])
                    s.execute(insert(Sample), [
                        {"id": sid, "identity_id": i, "gallery_id": gallery.id, "modality": "face", "source": "load",
                         "legal_basis": "synthetic", "image_sha256": "0" * 64, "image_format": "synthetic",
                         "thumbnail": None, "quality_score": 90.0, "quality": {}, "created_at": now}
                        for sid, i in zip(samples, ids, strict=True)])
                    rows = [Template(sample_id=sid, identity_id=i, gallery_id=gallery.id, modality="face",
                                     model_id=model, vector=repo.vector_bytes(v), data=None, created_at=now)
                            for sid, i, v in zip(samples, ids, vectors, strict=True)]
                    s.add_all(rows)
                    s.flush()
                    service.index.add(space_key(gallery.id, model), np.array([r.id for r in rows], np.int64), vectors)
                    g = s.get(Gallery, gallery.id)
                    g.identity_count += n
                bar.advance(task, n)
        service.index.flush(force=True)
        return key, gallery.id
    finally:
        service.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_load(url: str, key: str, gallery: str, photos: list[bytes], rate: float, duration: float,
                   timeout: float, max_inflight: int = 64) -> dict:
    latencies: list[float] = []
    codes: dict[str, int] = {}
    limits = httpx.Limits(max_connections=max_inflight, max_keepalive_connections=max_inflight)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        inflight = 0

        async def one(i: int) -> None:
            nonlocal inflight
            inflight += 1
            t0 = time.perf_counter()
            try:
                r = await client.post("/v1/identify", headers={"Authorization": f"Bearer {key}"},
                                      files={"image": ("p.jpg", photos[i % len(photos)], "image/jpeg")},
                                      data={"galleries": gallery, "purpose": "criminal_investigation",
                                            "case_number": f"LOAD-{i}"})
                code = str(r.status_code)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            inflight -= 1
            latencies.append(time.perf_counter() - t0)
            codes[code] = codes.get(code, 0) + 1

        tasks = []
        start = time.perf_counter()
        i = 0
        with Progress(console=console) as bar:
            task = bar.add_task(f"{rate:g} req/s for {duration:g} s", total=duration)
            while (elapsed := time.perf_counter() - start) < duration:
                due = start + i / rate
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                if inflight >= max_inflight:
                    # The server is saturated: this arrival is counted as an error, not queued in the
                    # client (a client holding thousands of waiting requests measures itself).
                    codes["saturated"] = codes.get("saturated", 0) + 1
                else:
                    tasks.append(asyncio.create_task(one(i)))
                i += 1
                bar.update(task, completed=min(duration, elapsed))
            await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    lat = np.array(latencies or [float("nan")]) * 1000
    ok = codes.get("200", 0)
    return {"sent": i, "ok": ok, "errors": i - ok, "codes": codes, "wall_s": wall, "served_per_s": ok / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99))}


def serve_and_load(data: Path, key: str, gallery: str, photos: list[bytes], workers: int, args) -> dict:
    """Start a server with ``workers`` extraction processes, measure one request at a time (the
    baseline), then the load; stop the server."""
    port = free_port()
    env = {**os.environ, "FIELDID_DATA_DIR": str(data), "FIELDID_ENVIRONMENT": "test",
           "FIELDID_RATE_LIMIT_PER_MINUTE": "1000000", "FIELDID_RATE_ALERT_PER_HOUR": "10000000",
           "FIELDID_EXTRACTION_WORKERS": str(workers)}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "fieldid"), "serve", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("server did not start: " + server.stderr.read().decode()[-2000:])
        # warm-up: every worker loads its models; then one request at a time, no load (baseline)
        asyncio.run(run_load(url, key, gallery, photos, 4.0, max(2.0, workers), args.timeout))
        solo = asyncio.run(run_load(url, key, gallery, photos, 1.0, 10.0, args.timeout))
        loaded = asyncio.run(run_load(url, key, gallery, photos, args.rate, args.duration, args.timeout,
                                      args.max_inflight))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"extraction_workers": workers, "baseline": solo, "load": loaded,
            "p50_ratio_to_baseline": loaded["p50_ms"] / solo["p50_ms"],
            "served_ratio_to_target": loaded["served_per_s"] / args.rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gallery", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--max-inflight", type=int, default=64,
                    help="requests in flight at most; arrivals beyond are counted as 'saturated' errors")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    ap.add_argument("--extraction-workers", default="0",
                    help="comma-separated server configurations to measure in turn, e.g. 0,2 "
                         "(0 = extraction in the request thread; N = N worker processes)")
    args = ap.parse_args()

    lfw = default_shared_data() / "faces" / "lfw-deepfunneled-dev" / "images"
    people = sorted(lfw.iterdir())
    random.Random(1).shuffle(people)
    photos = [next(p.iterdir()).read_bytes() for p in people[:50]]

    with tempfile.TemporaryDirectory(prefix="fieldid-load-") as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, environment="test", rate_limit_per_minute=1_000_000,
                            rate_alert_per_hour=10_000_000)
        t0 = time.perf_counter()
        key, gallery = populate(settings, args.gallery)
        populate_s = time.perf_counter() - t0
        runs = []
        for workers in [int(w) for w in args.extraction_workers.split(",")]:
            runs.append(serve_and_load(data, key, gallery, photos, workers, args))
    result = {
        "gallery_size": args.gallery, "target_rate": args.rate, "duration_s": args.duration,
        "cores": os.cpu_count(), "populate_s": populate_s, "runs": runs,
        # the first configuration's figures at the top level, as earlier versions wrote them
        **{k: runs[0][k] for k in ("baseline", "load", "p50_ratio_to_baseline", "served_ratio_to_target")},
        "load_avg": os.getloadavg()[0],
    }
    table = Table("extraction workers", "run", "sent", "ok", "errors", "served/s", "p50 ms", "p95 ms", "p99 ms",
                  title=f"identify on a {args.gallery:,}-identity gallery (loopback, {os.cpu_count()} cores)")
    for run in runs:
        for name, r in (("baseline (1/s)", run["baseline"]), (f"load ({args.rate:g}/s)", run["load"])):
            table.add_row(str(run["extraction_workers"]), name, str(r["sent"]), str(r["ok"]), str(r["errors"]),
                          f"{r['served_per_s']:.1f}", f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}")
    console.print(table)
    first = runs[0]
    for run in runs:
        console.print(f"{run['extraction_workers']} extraction workers: served {run['served_ratio_to_target']:.0%} "
                      f"of the target rate ({run['load']['served_per_s'] / max(first['load']['served_per_s'], 1e-9):.2f}× "
                      f"the first configuration); p50 under load = {run['p50_ratio_to_baseline']:.1f}× the unloaded p50")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
