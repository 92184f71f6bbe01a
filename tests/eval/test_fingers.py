"""`fieldid eval fingers`: the FVC protocol on a tiny manifest, and on real FVC data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldid.eval.datasets import Item
from fieldid.eval.fingers import all_impostor_pairs, fvc_pairs, run_finger_eval
from tests.conftest import shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fingers"


def test_fvc_protocol_pairs():
    items = [Item(Path(f"{f}_{i}.tif"), f"finger{f}", None) for f in range(3) for i in range(4)]
    genuine, impostor = fvc_pairs(items)
    assert len(genuine) == 3 * 6  # all same-finger impression pairs
    assert len(impostor) == 3
    assert all(a.path.stem.endswith("_0") and b.path.stem.endswith("_0") for a, b in impostor)
    assert len(all_impostor_pairs(items)) == 3 * 16


def test_pairs_never_cross_groups():
    items = [Item(Path(f"{g}{f}_{i}"), f"{g}{f}", g) for g in ("a", "b") for f in range(2) for i in range(2)]
    genuine, impostor = fvc_pairs(items)
    assert all(x.group == y.group for x, y in genuine + impostor + all_impostor_pairs(items))


def test_eval_writes_results_and_det_plot(tmp_path, settings):
    manifest = tmp_path / "manifest.csv"
    rows = ["path,label"] + [f"{FIXTURES / n}.tif,{n[:-2]}" for n in (
        "fvc2000_db2_101_1", "fvc2000_db2_101_2", "fvc2000_db2_102_1", "fvc2000_db2_102_2")]
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    results = run_finger_eval(settings, manifest, out, workers=1, quiet=True)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    for key in ("eer", "fnmr_at_fmr", "genuine_pairs", "impostor_pairs", "failures_to_extract",
                "comparisons_per_second", "rank1"):
        assert key in results
    assert set(results["fnmr_at_fmr"]) == {"0.01", "0.001", "0.0001"}
    assert results["genuine_pairs"] == 2 and results["impostor_pairs"] == 1
    assert results["failures_to_extract"] == 0 and results["rank1"] == 1.0 and results["eer"] == 0.0
    assert results["comparisons_per_second"] > 0
    assert (out / "det.png").stat().st_size > 1000


@pytest.mark.slow
def test_real_fvc_database_separates_fingers(tmp_path, settings):
    """FVC2000 DB2_B, 5 fingers × 4 impressions: a real-data floor, far from the measured EER."""
    root = shared_data() / "fingerprints" / "fvc2000-b"
    if not root.is_dir():
        pytest.skip("FVC2000 B data not available")
    manifest = tmp_path / "m.csv"
    lines = ["path,label"]
    lines += [f"{root}/DB2_B/{f}_{i}.tif,db2_{f}" for f in range(101, 106) for i in range(1, 5)]
    manifest.write_text("\n".join(lines) + "\n")
    results = run_finger_eval(settings, manifest, tmp_path / "out", workers=2, quiet=True)
    assert results["failures_to_extract"] == 0
    assert results["all_impostors"]["eer"] < 0.10
    assert results["rank1"] >= 0.8
