"""Crash consistency: the process is killed (SIGKILL) in the middle of bulk enrolment and of an
index rebuild at random points; after a restart nothing is orphaned, nothing enrolled is lost,
and the audit chain is intact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LFW

FIELDID = [sys.executable, "-m", "fieldid.cli"]


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*FIELDID, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "FIELDID_DATA_DIR": str(tmp_path / "data"), "FIELDID_CLI_USER": "operator",
         "FIELDID_ENVIRONMENT": "test", "COLUMNS": "200"}
    _cli(e, "admin", "bootstrap", "--agency", "local")
    _cli(e, "gallery", "create", "watchlist", "--as", "admin")
    return e


@pytest.fixture
def manifest(tmp_path):
    people = sorted(p for p in (LFW / "images").iterdir() if len(list(p.iterdir())) >= 2)[:24]
    rows = [f"{img},{person.name}" for person in people for img in sorted(person.iterdir())[:2]]
    path = tmp_path / "manifest.csv"
    path.write_text("path,label\n" + "\n".join(rows) + "\n")
    return path, len(people)


def test_sigkill_during_bulk_enrolment_loses_and_orphans_nothing(env, manifest):
    path, people = manifest
    rng = random.Random(20261130)
    enrol = [*FIELDID, "enroll", str(path), "--gallery", "watchlist", "--legal-basis", "test", "--workers", "1"]
    for _ in range(2):
        proc = subprocess.Popen(enrol, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(6.0, 14.0))  # start-up is ~4 s; then ~3 images/s
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, extraction workers included
        proc.wait()
        # restart: opening the service reconciles; doctor without repair must then find nothing
        doctor = _cli(env, "doctor", "--no-repair", check=False)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "orphan vectors: 0, missing vectors: 0" in doctor.stdout
        assert "audit chain: intact" in doctor.stdout
    done = _cli(env, "enroll", str(path), "--gallery", "watchlist", "--legal-basis", "test", "--workers", "1")
    assert "skipped" in done.stdout
    from sqlalchemy import create_engine, text

    from fieldid.config import Settings

    engine = create_engine(Settings(data_dir=Path(env["FIELDID_DATA_DIR"])).resolved_database_url)
    with engine.connect() as c:
        enrolled = c.execute(text("select count(*) from identities")).scalar_one()
        labels = c.execute(text("select count(distinct display_name) from identities")).scalar_one()
        counted = c.execute(text("select identity_count from galleries where name = 'watchlist'")).scalar_one()
    engine.dispose()
    assert enrolled == labels == counted  # nobody twice, and the gallery's count is right
    assert people - 2 <= enrolled <= people  # every person once (a few dev images hold no usable face)
    final = _cli(env, "doctor", "--no-repair")
    assert "orphan vectors: 0, missing vectors: 0" in final.stdout and "intact" in final.stdout


REBUILD = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from fieldid.storage.faiss_index import FaissIndex
    index = FaissIndex(Path(sys.argv[1]))
    if index.count("g|m") == 0:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(4000, 128)).astype(np.float32)
        vectors = np.repeat(centres, 5, axis=0) + 0.3 * rng.normal(size=(20000, 128)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.add("g|m", np.arange(1, 20001, dtype=np.int64), vectors)
        index.remove("g|m", np.arange(1, 2001, dtype=np.int64))
        index.flush(force=True)
        print("ready", flush=True)
    while True:
        index.rebuild("g|m", "hnsw").result()
        index.flush(force=True)
        index.rebuild("g|m", "flat").result()
        index.flush(force=True)
""")


def test_sigkill_during_index_rebuild_keeps_a_whole_index(tmp_path):
    from fieldid.storage.faiss_index import FaissIndex

    script = tmp_path / "rebuild.py"
    script.write_text(REBUILD)
    directory = tmp_path / "index"
    rng = random.Random(7)
    expected = np.arange(2001, 20001, dtype=np.int64)
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(directory)], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        if round_ == 0:
            assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.5, 6.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        index = FaissIndex(directory)
        try:
            ids = np.sort(index.ids("g|m"))
            assert np.array_equal(ids, expected), f"round {round_}: {len(ids)} ids"
            probe = np.zeros((1, 128), np.float32)
            probe[0, 0] = 1.0
            hits = index.search(["g|m"], probe, 5)[0]
            assert len(hits) == 5 and all(h.vector_id > 2000 for h in hits)
        finally:
            index.close()
