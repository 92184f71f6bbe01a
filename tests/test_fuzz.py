"""Fuzzing in CI: the seed corpus (including every crash ever found) replays cleanly, and each
atheris target runs briefly (bounded runs and time). The long run: `fuzz/run.py TARGET
-max_total_time=600` (see fuzz/harnesses.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

from harnesses import TARGETS  # noqa: E402


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_corpus_replays(name):
    files = sorted((FUZZ / "corpus" / name).iterdir())
    assert files, f"empty corpus for {name}"
    for path in files:
        TARGETS[name](path.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_coverage_guided_run(name, tmp_path):
    pytest.importorskip("atheris")
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), name, "-runs=3000", "-max_total_time=15", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    crashes = list(tmp_path.glob("crash-*")) + list(tmp_path.glob("timeout-*"))
    assert proc.returncode == 0 and not crashes, proc.stderr[-3000:]
