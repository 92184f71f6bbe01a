"""Measuring accuracy and building calibration tables (``fieldid eval``, ``fieldid calibrate``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fieldid.cli import render
from fieldid.cli.app import calibrate_app, command, console, err, eval_app
from fieldid.config import Settings
from fieldid.errors import InvalidRequest

Workers = Annotated[int | None, typer.Option(help="Extraction processes.")]
Cache = Annotated[Path | None, typer.Option(help="Embedding cache folder.")]


@command(eval_app, "faces")
def eval_faces(
    settings: Settings,
    out: Annotated[Path, typer.Option(help="Output folder for results.json, det.png, report.html.")],
    pairs: Annotated[Path | None, typer.Option(help="LFW pairs.txt (pairs protocol).")] = None,
    images: Annotated[Path | None,
                      typer.Option(help="Image folder for --pairs (DIR/<name>/<name>_NNNN.jpg).")] = None,
    manifest: Annotated[Path | None,
                        typer.Option(help="path,label[,group] CSV (open-set identification).")] = None,
    groups: Annotated[Path | None, typer.Option(help="path,label,group CSV for the per-group table.")] = None,
    cache: Cache = Path("var/cache/embeddings"),
    workers: Workers = None,
) -> None:
    """Face accuracy: the LFW pairs protocol, or open-set 1:N identification on a manifest."""
    from fieldid.eval.report import run_face_eval

    if (pairs is None) == (manifest is None):
        err.print("[red]give either --pairs (with --images) or --manifest[/]")
        raise typer.Exit(2)
    if pairs is not None and images is None:
        images = pairs.parent / "images"
    results = run_face_eval(settings, out, pairs=pairs, images=images, manifest=manifest, groups=groups,
                            cache_dir=cache, workers=workers)
    summary = {k: v for k, v in results.items() if not isinstance(v, (list, dict)) or k == "fnir_at_fpir"}
    console.print_json(json.dumps(summary, default=str))
    published = _publish_evaluation(settings, out)
    console.print(f"written: {out / 'results.json'}, {out / 'det.png'}, {out / 'report.html'}"
                  + (f"; published to the console's accuracy page ({published})" if published else ""))


def _publish_evaluation(settings: Settings, out: Path) -> Path | None:
    """Copy an evaluation's results into <data_dir>/eval/<name>/, where the oversight console's
    accuracy page reads the latest one."""
    target = settings.data_dir / "eval" / out.resolve().name
    if target.resolve() == out.resolve():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for f in out.iterdir():
        if f.is_file() and f.suffix in (".json", ".png", ".html"):
            shutil.copyfile(f, target / f.name)
    return target


@command(eval_app, "fingers")
def eval_fingers(
    settings: Settings,
    manifest: Annotated[Path, typer.Option(help="path,label CSV of fingerprint images (FVC layout or any).")],
    out: Annotated[Path, typer.Option(help="Output folder for results.json, det.png, scores.npz.")],
    workers: Workers = None,
) -> None:
    """Fingerprint accuracy: EER, FNMR at FMR 1%/0.1%/0.01%, DET plot and 1:N rank-1."""
    from fieldid.eval.fingers import run_finger_eval

    r = run_finger_eval(settings, manifest, out, workers=workers)
    table = Table("impostors", "EER", "FNMR@FMR 1%", "FNMR@FMR 0.1%", "FNMR@FMR 0.01%", "pairs (gen/imp)",
                  title=f"Fingerprints — {manifest}")
    for name, rates in (("protocol", r), ("all different fingers", r["all_impostors"])):
        f = rates["fnmr_at_fmr"]
        table.add_row(name, f"{rates['eer']:.2%}", f"{f['0.01']:.2%}", f"{f['0.001']:.2%}",
                      f"{f['0.0001']:.2%}",
                      f"{rates['genuine_pairs']}/{rates['impostor_pairs']}")
    console.print(table)
    console.print(f"1:N rank-1 {r['rank1']:.2%} over {r['searches']} searches; "
                  f"{r['failures_to_extract']} failures to extract; "
                  f"{r['comparisons_per_second']:,.0f} comparisons/s")
    console.print(f"written: {out / 'results.json'}, {out / 'det.png'}")


def _calibrate(manifest: Path, build: Callable[[], tuple[Any, dict[str, Any]]]) -> tuple[Any, dict[str, Any]]:
    """Run ``build`` (→ table, report); too few pairs to build a table is bad input."""
    try:
        return build()
    except ValueError as exc:  # too few pairs on the build side
        raise InvalidRequest(f"Cannot calibrate on {manifest}: {exc}.") from None


@command(calibrate_app, "faces")
def calibrate_faces_cmd(
    settings: Settings,
    manifest: Annotated[Path, typer.Option(help="path,label CSV of labelled faces.")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (JSON).")],
    name: Annotated[str | None, typer.Option(help="Data set name recorded in the file.")] = None,
    holdout: Annotated[float, typer.Option(help="Share of identities kept out to check the table.")] = 0.0,
    cache: Cache = Path("var/cache/embeddings"),
    workers: Workers = None,
) -> None:
    """Measure genuine/impostor scores on a labelled set and write a score → FMR table."""
    from fieldid.calibration_io import save_calibration
    from fieldid.eval.calibrate import calibrate_faces

    cal, report = _calibrate(manifest, lambda: calibrate_faces(
        manifest, settings, dataset_name=name, cache_dir=cache, workers=workers, holdout=holdout))
    save_calibration(cal, out)
    console.print(render.calibration_summary(cal, report, out, "", (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)))


@command(calibrate_app, "fingers")
def calibrate_fingers_cmd(
    settings: Settings,
    manifest: Annotated[Path,
                        typer.Option(help="path,label CSV of fingerprint images (one label per finger).")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (JSON).")],
    name: Annotated[str | None, typer.Option(help="Data set name recorded in the file.")] = None,
    workers: Workers = None,
) -> None:
    """Measure genuine/impostor fingerprint scores and write a score → FMR table.

    Fingers are split in two by a stable hash of their label: one half builds the table, the
    other checks it (observed vs predicted FMR). Put the file in the calibration folder
    (``calibration_dir``) to use it instead of the shipped one."""
    from fieldid.calibration_io import save_calibration
    from fieldid.eval.datasets import read_manifest
    from fieldid.eval.fingers import calibrate_fingers, extract_templates

    def build() -> tuple[Any, dict[str, Any]]:
        items = read_manifest(manifest)
        extracted = extract_templates(items, settings.image_limits, workers=workers,
                                      description="Calibration prints")
        return calibrate_fingers(items, extracted, dataset=name or Path(manifest).parent.name, quiet=False)

    cal, report = _calibrate(manifest, build)
    save_calibration(cal, out)
    console.print(render.calibration_summary(
        cal, report, out, f" ({report['build_fingers']} fingers; {report['check_fingers']} held out)",
        (1e-2, 1e-3, 1e-4)))
