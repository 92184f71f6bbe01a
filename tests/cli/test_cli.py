"""The `fieldid` command line, run in-process with Typer's CliRunner on a temporary data dir."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from fieldid.api.schemas import IdentifyResponse
from fieldid.cli import app
from tests.conftest import FIXTURES, LFW

runner = CliRunner()


@pytest.fixture
def cli(tmp_path):
    base = ["--data-dir", str(tmp_path / "data")]

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, [*base, *args], env={"FIELDID_CLI_USER": "operator", "COLUMNS": "200"})
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("admin", "bootstrap", "--agency", "local")
    invoke("gallery", "create", "watchlist", "--as", "admin", "--fpir", "0.01")
    return invoke


@pytest.fixture
def people(tmp_path):
    root = tmp_path / "people"
    for person in ("a", "b"):
        (root / f"person-{person}").mkdir(parents=True)
        shutil.copy(FIXTURES / "faces" / f"person_{person}_1.jpg", root / f"person-{person}" / "1.jpg")
    (root / "person-x").mkdir()
    (root / "person-x" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_enrol_identify_verify(cli, people):
    out = cli("enroll", str(people), "--gallery", "watchlist", "--legal-basis", "consent:test", "--workers", "1").output
    assert "enrolled 2 people" in out and "image_corrupt" in out
    again = cli("enroll", str(people), "--gallery", "watchlist", "--legal-basis", "consent:test", "--workers", "1").output
    assert "enrolled 0 people" in again and "skipped 2 already enrolled" in again

    result = cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist",
                 "--purpose", "criminal_investigation", "--case", "C-1", "--json")
    body = IdentifyResponse.model_validate_json(result.stdout)
    assert body.outcome == "candidates" and body.gallery_size == 2
    assert body.candidates[0].display_name == "person-a"
    table = cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist",
                "--purpose", "criminal_investigation", "--case", "C-1").output
    assert "candidates" in table and "FMR" in table

    refused = cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist", ok=False)
    assert refused.exit_code == 2 and "purpose_required" in refused.output

    identity = body.candidates[0].identity_id
    v = cli("verify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--identity", identity,
            "--purpose", "criminal_investigation", "--case", "C-1", "--json")
    assert json.loads(v.stdout)["assessment"] == "supports_same_person"

    listing = cli("gallery", "list").output
    assert "watchlist" in listing


def test_audit_verify_detects_tampering_and_doctor_repairs(cli, people, tmp_path):
    cli("enroll", str(people), "--gallery", "watchlist", "--legal-basis", "consent:test", "--workers", "1")
    assert "intact" in cli("audit", "verify").output
    assert "orphan vectors: 0, missing vectors: 0" in cli("doctor").output

    db = sqlite3.connect(tmp_path / "data" / "fieldid.db")
    db.execute("UPDATE audit_events SET payload = '{\"forged\": true}' WHERE seq = 3")
    db.execute("DELETE FROM templates WHERE id = (SELECT max(id) FROM templates)")
    db.commit()
    db.close()
    doctor = cli("doctor", ok=False).output
    assert "orphan vectors: 1" in doctor and "(repaired)" in doctor and "audit chain: BROKEN" in doctor
    assert "orphan vectors: 0" in cli("doctor", ok=False).output
    broken = cli("audit", "verify", ok=False)
    assert broken.exit_code == 1 and "seq 3" in broken.output and "edited" in broken.output


def test_retention_report_export(cli, people, tmp_path):
    cli("enroll", str(people), "--gallery", "watchlist", "--legal-basis", "consent:test", "--workers", "1")
    cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist",
        "--purpose", "criminal_investigation", "--case", "C-1")
    assert '"probe_images_purged": 0' in cli("retention", "run").output
    rows = json.loads(cli("report", "transparency", "--since", "2000-01-01", "--until", "2100-01-01", "--json").stdout)
    assert rows[0]["agency_id"] == "local" and rows[0]["searches"] == 1
    cli("admin", "user", "auditor", "--role", "auditor", "--agency", "local")
    out = tmp_path / "audit.ndjson"
    cli("audit", "export", "--out", str(out), "--as", "auditor")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {e["agency_id"] for e in lines} == {"local"} and any(e["event_type"] == "search.identify" for e in lines)


def test_eval_faces_both_modes(cli, tmp_path):
    names = ["Colin_Powell", "Tony_Blair", "Abdullah_Gul", "Adrien_Brody", "Andre_Agassi",
             "Hugo_Chavez", "Jacques_Chirac", "Bill_Gates", "Carlos_Menem", "Ari_Fleischer"]
    manifest = tmp_path / "m.csv"
    rows = ["path,label"] + [f"{LFW}/images/{n}/{n}_{i:04d}.jpg,{n}" for n in names for i in (1, 2, 3)]
    singles = ("Aaron_Patterson", "Abbas_Kiarostami", "Abdel_Madi_Shabneh", "Abdul_Rahman", "Abel_Aguilar",
               "Abner_Martinez", "Adam_Mair", "Adam_Rich")
    rows += [f"{LFW}/images/{n}/{n}_0001.jpg,{n}" for n in singles if (LFW / "images" / n).is_dir()]
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "os"
    cli("eval", "faces", "--manifest", str(manifest), "--out", str(out), "--workers", "1", "--cache", str(tmp_path / "c"))
    results = json.loads((out / "results.json").read_text())
    assert results["rank1"] >= 0.9 and results["rank10"] == 1.0
    assert set(results["fnir_at_fpir"]) == {"0.01", "0.001"}
    assert results["nonmated_searches"] >= 1 and results["fnir_at_fpir"]["0.01"] is not None
    for key in ("calibration", "threshold", "fpir_target", "gallery_size_curve"):
        assert key in results
    assert (out / "det.png").stat().st_size > 1000 and (out / "report.html").exists()
    # published where the console's accuracy page reads the latest evaluation
    from fieldid.web.api import latest_evaluation

    latest = latest_evaluation(tmp_path / "data")
    assert latest is not None and latest["source"] == "eval/os/results.json"
    assert latest["summary"]["rank1"] == results["rank1"]

    pairs = tmp_path / "pairs.txt"
    lines = ["2\t2"]
    for fold in range(2):
        a, b = names[fold * 2], names[fold * 2 + 1]
        lines += [f"{a}\t1\t2", f"{b}\t1\t3", f"{a}\t1\t{b}\t1", f"{a}\t2\t{b}\t2"]
    pairs.write_text("\n".join(lines) + "\n")
    out2 = tmp_path / "pairs"
    cli("eval", "faces", "--pairs", str(pairs), "--images", str(LFW / "images"), "--out", str(out2),
        "--workers", "1", "--cache", str(tmp_path / "c"))
    r2 = json.loads((out2 / "results.json").read_text())
    assert r2["protocol"] == "lfw-pairs" and r2["pairs"] == 8 and r2["folds"] == 2
    assert 0.5 < r2["accuracy"] <= 1.0 and len(r2["fold_accuracies"]) == 2
    for key in ("accuracy_std", "failures_to_extract", "ms_per_image", "calibration", "threshold", "fpir_target"):
        assert key in r2
    assert (out2 / "det.png").exists()


def test_calibrate_command(cli, tmp_path):
    from fieldid.calibration_io import load_calibration

    few = ["Colin_Powell", "Tony_Blair", "Abdullah_Gul", "Adrien_Brody", "Andre_Agassi", "Hugo_Chavez"]
    small = tmp_path / "few.csv"
    small.write_text("path,label\n" + "\n".join(f"{LFW}/images/{n}/{n}_{i:04d}.jpg,{n}" for n in few
                                                 for i in range(1, 4)) + "\n")
    refused = cli("calibrate", "faces", "--manifest", str(small), "--out", str(tmp_path / "x.json"),
                  "--workers", "1", "--cache", str(tmp_path / "c"), ok=False)
    assert refused.exit_code != 0 and "pairs of people" in refused.output  # 6 people: 15 pairs of people
    assert not (tmp_path / "x.json").exists()

    counts: dict[str, int] = {}
    for line in (LFW / "manifest.csv").read_text().splitlines()[1:]:
        counts[line.rsplit(",", 1)[1]] = counts.get(line.rsplit(",", 1)[1], 0) + 1
    names = sorted(n for n, c in counts.items() if c >= 2)[:24]  # 24 people: 276 pairs of people
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n" + "\n".join(f"{LFW}/images/{n}/{n}_{i:04d}.jpg,{n}" for n in names
                                                    for i in range(1, 3)) + "\n")
    out = tmp_path / "cal.json"
    res = cli("calibrate", "faces", "--manifest", str(manifest), "--out", str(out), "--workers", "1",
              "--cache", str(tmp_path / "c"))
    assert "24 genuine" in res.output and "1,104 impostor" in res.output  # C(48, 2) − 24
    cal = load_calibration(out)
    assert cal.model_id == "dlib-resnet-v1-flip-lm5p25-lm5p35@1"
    assert cal.genuine_pairs == 24 and cal.impostor_pairs == 1104
    assert cal.effective_impostor_pairs == pytest.approx(276)  # every pair of people counts once


def _shared_fvc():
    from tests.conftest import shared_data

    return shared_data() / "fingerprints" / "fvc2000-b"


def test_fingers_from_the_command_line(cli, people, tmp_path):
    cli("enroll", str(people), "--gallery", "watchlist", "--legal-basis", "consent:test", "--workers", "1")
    found = cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist",
                "--purpose", "criminal_investigation", "--case", "C-1", "--json")
    ident = IdentifyResponse.model_validate_json(found.stdout).candidates[0].identity_id
    prints = FIXTURES / "fingers"
    out = cli("add-fingers", ident, "--finger", str(prints / "fvc2000_db2_101_1.tif"), "--position", "2",
              "--legal-basis", "consent:test").output
    assert "1 print(s) enrolled" in out
    fused = cli("identify", str(FIXTURES / "faces" / "person_a_2.jpg"), "--finger", str(prints / "fvc2000_db2_101_2.tif"),
                "--position", "2", "--gallery", "watchlist", "--purpose", "criminal_investigation", "--case", "C-1",
                "--json")
    body = IdentifyResponse.model_validate_json(fused.stdout)
    assert body.modality == "face+finger" and body.candidates[0].identity_id == ident
    mismatch = cli("identify", "--finger", str(prints / "fvc2000_db2_101_2.tif"), "--position", "2", "--position", "3",
                   "--gallery", "watchlist", ok=False)
    assert mismatch.exit_code == 2
    bad = cli("identify", "--finger", str(FIXTURES / "faces" / "person_a_2.jpg"), "--gallery", "watchlist",
              "--purpose", "criminal_investigation", "--case", "C-1", ok=False)
    assert bad.exit_code == 2 and "no_fingerprint" in bad.output


def test_eval_fingers(cli, tmp_path):
    fvc = _shared_fvc()
    manifest = tmp_path / "fingers.csv"
    rows = [f"{fvc / 'DB2_B' / f'{finger}_{i}.tif'},f{finger}" for finger in (101, 102, 103) for i in range(1, 5)]
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    out = cli("eval", "fingers", "--manifest", str(manifest), "--out", str(tmp_path / "ev"), "--workers", "1").output
    assert "EER" in out and "rank-1" in out
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["images"] == 12 and results["rank1"] > 0.5
    assert (tmp_path / "ev" / "det.png").stat().st_size > 1000


def test_calibrate_fingers_command(cli, tmp_path):
    from fieldid.calibration_io import load_calibration
    from fieldid.eval.fingers import MATCHER_MODEL_ID

    fvc = _shared_fvc()
    manifest = tmp_path / "prints.csv"
    too_few = tmp_path / "few.csv"
    too_few.write_text("path,label\n" + "\n".join(f"{fvc / 'DB2_B' / f'{f}_{i}.tif'},f{f}"
                                                    for f in (101, 102) for i in (1, 2)) + "\n")
    refused = cli("calibrate", "fingers", "--manifest", str(too_few), "--out", str(tmp_path / "x.json"),
                  "--workers", "1", ok=False)
    assert refused.exit_code != 0 and "Cannot calibrate" in refused.output and not (tmp_path / "x.json").exists()

    fingers = range(101, 111)
    rows = [f"{fvc / 'DB2_B' / f'{finger}_{i}.tif'},f{finger}" for finger in fingers for i in range(1, 5)]
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "finger-cal.json"
    res = cli("calibrate", "fingers", "--manifest", str(manifest), "--out", str(out), "--workers", "1",
              "--name", "fvc-test")
    cal = load_calibration(out)
    assert cal.model_id == MATCHER_MODEL_ID and cal.dataset == "fvc-test"
    built = cal.notes["fingers"]
    assert 0 < built < len(fingers) and cal.genuine_pairs == 6 * built  # 6 pairs per finger of 4 prints
    assert cal.impostor_pairs > 0 and f"{len(fingers) - built} held out" in res.output
    assert cal.threshold_at_fmr(1e-3) >= cal.threshold_at_fmr(1e-2)


def test_sources_commands(cli):
    listed = cli("sources", "list").output
    assert "No record source" in listed  # none configured outside demo mode
    assert json.loads(cli("sources", "list", "--json").stdout) == []
    missing = cli("sources", "health", "nope", ok=False)
    assert missing.exit_code == 2 and "source_not_found" in missing.output

