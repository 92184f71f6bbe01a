"""Enrolment writer throughput: identities written per second on SQLite and on PostgreSQL.

Bulk enrolment extracts faces in worker processes (or on Ray) and writes from one process
(`fieldid.bulk`); at national scale the writer is the part no amount of extraction workers
can speed up. This measures that writer alone, through the service's real write path
(``FieldID.enroll_prepared``: duplicate search, identity + sample + template rows with
encrypted thumbnail and template, index add, hash-chained audit row, one transaction per
identity): the samples are one real face's extraction with a synthetic unit embedding per
identity, so extraction costs nothing here.

    .venv/bin/python benchmarks/enrol_writer.py --identities 3000 --json benchmarks/results/enrol_writer.json

PostgreSQL: the database named by FIELDID_TEST_POSTGRES_URL's server (a fresh database is
created and dropped). The baseline in the same run is the embedded SQLite store.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fieldid.config import Settings  # noqa: E402
from fieldid.governance.admin import SYSTEM  # noqa: E402
from fieldid.governance.roles import Role  # noqa: E402
from fieldid.service import EnrollmentInfo, FieldID  # noqa: E402

console = Console()
PG_URL = os.environ.get("FIELDID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PHOTO = ROOT / "tests" / "fixtures" / "faces" / "person_a_1.jpg"


def measure(settings: Settings, identities: int, duplicate_check: bool, label: str) -> dict:
    settings = settings.model_copy(update={"duplicate_check": duplicate_check})
    service = FieldID.open(settings, reconcile=False)
    try:
        service.create_agency(SYSTEM, "bench", "Writer benchmark")
        service.create_user(SYSTEM, "bench-admin", Role.AGENCY_ADMIN, agency_id="bench")
        service.create_user(SYSTEM, "bench-officer", Role.OFFICER, agency_id="bench")
        gallery = service.create_gallery(service.actor_for("bench-admin"), "writer").id
        actor = service.actor_for("bench-officer")
        real = service.prepare_sample(PHOTO.read_bytes())
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((identities, real.template.embedding.shape[0])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        times = []
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(label, total=identities)
            start = time.perf_counter()
            for i, v in enumerate(vectors):
                sample = dataclasses.replace(real, sha256=uuid.uuid4().hex,
                                             template=dataclasses.replace(real.template, embedding=v))
                t = time.perf_counter()
                service.enroll_prepared(actor, gallery, [sample], EnrollmentInfo(
                    display_name=f"Person {i}", subject_key=f"bench-{i}", source="benchmark", legal_basis="benchmark"))
                times.append(time.perf_counter() - t)
                bar.advance(task)
            wall = time.perf_counter() - start
    finally:
        service.close()
    ms = np.array(times) * 1000
    return {"store": label, "duplicate_check": duplicate_check, "identities": identities, "wall_s": wall,
            "per_s": identities / wall, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=int, default=3000)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "enrol_writer.json")
    args = ap.parse_args()
    rows = []
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with tempfile.TemporaryDirectory(prefix="fieldid-writer-") as tmp:
        for duplicate_check in (True, False):
            base = Settings(data_dir=Path(tmp) / f"sqlite-{duplicate_check}", environment="test")
            rows.append(measure(base, args.identities, duplicate_check, "SQLite (embedded)"))
            name = f"fieldid_writer_{uuid.uuid4().hex[:10]}"
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
                pg = Settings(data_dir=Path(tmp) / f"pg-{duplicate_check}", environment="test", database_url=url)
                rows.append(measure(pg, args.identities, duplicate_check, "PostgreSQL 127.0.0.1"))
            finally:
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    by = {(r["store"], r["duplicate_check"]): r for r in rows}
    for r in rows:
        r["ratio_to_sqlite"] = r["per_s"] / by[("SQLite (embedded)", r["duplicate_check"])]["per_s"]
    table = Table("store", "duplicate search", "identities", "identities/s", "p50 ms", "p99 ms", "× SQLite",
                  title="Enrolment writer (one process, one transaction per identity)")
    for r in rows:
        table.add_row(r["store"], "yes" if r["duplicate_check"] else "no", f"{r['identities']:,}",
                      f"{r['per_s']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['ratio_to_sqlite']:.2f}")
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cores": os.cpu_count(), "load_avg": os.getloadavg()[0], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
