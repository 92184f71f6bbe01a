"""Evaluation runs that write results.json, plots (PNG) and a small HTML report."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fieldid.calibration_io import find_calibration  # noqa: E402
from fieldid.config import Settings  # noqa: E402
from fieldid.core.calibration import Calibration, fmr_for_fpir  # noqa: E402
from fieldid.eval import metrics  # noqa: E402
from fieldid.eval.calibrate import check_against, face_scores, split_by_identity  # noqa: E402
from fieldid.eval.datasets import Item, read_groups, read_lfw_pairs, stable_fraction  # noqa: E402
from fieldid.eval.extract import extract_faces  # noqa: E402
from fieldid.eval.faces import lfw_pairs, open_set_manifest  # noqa: E402

FPIR_TARGET = 0.01


def det_plot(curves: list[tuple[str, np.ndarray, np.ndarray]], path: Path, title: str,
             marks: list[tuple[str, float, float]] | None = None) -> None:
    """DET curve(s): FNMR against FMR on log axes."""
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    plotted = 0
    for label, genuine, impostor in curves:
        _, fmr, fnmr = metrics.det_curve(genuine, impostor)
        ok = (fmr > 0) & (fnmr > 0)
        plotted += int(ok.sum())
        ax.plot(fmr[ok], fnmr[ok], label=f"{label} (EER {metrics.eer(genuine, impostor):.2%})")
    for label, x, y in marks or []:
        ax.plot([x], [y], "o", label=label)
    if plotted:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:  # perfectly separated scores: there is no trade-off curve to draw on log axes
        ax.text(0.5, 0.5, "no errors at any threshold\n(too few comparisons to draw a DET curve)",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("False match rate (FMR)")
    ax.set_ylabel("False non-match rate (FNMR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def histogram_plot(genuine: np.ndarray, impostor: np.ndarray, path: Path, threshold: float | None) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    bins = np.linspace(min(genuine.min(), impostor.min()), max(genuine.max(), impostor.max()), 120)
    ax.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"different people ({len(impostor):,})")
    ax.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"same person ({len(genuine):,})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("score")
    ax.set_yscale("log", nonpositive="clip")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def calibration_plot(rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    pred = np.array([r["predicted_fmr"] for r in rows])
    obs = np.array([max(r["observed_fmr"], 1e-9) for r in rows])
    lo, hi = min(pred.min(), obs.min()) / 3, 1.0
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="perfect")
    ax.fill_between([lo, hi], [lo / 2, hi / 2], [lo * 2, hi * 2], color="0.85", label="within 2×")
    ax.plot(pred, obs, "o-", label="held-out impostor pairs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted FMR (calibration)")
    ax.set_ylabel("observed FMR (held-out)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def curve_plot(series: list[tuple[str, list[float], list[float]]], path: Path, xlabel: str, ylabel: str,
               logx: bool = True) -> None:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for label, xs, ys in series:
        ax.plot(xs, ys, "o-" if len(xs) < 20 else "-", label=label)
    if logx and any(x > 0 for _, xs, _ in series for x in xs):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _held_out(items: list[Item], cal: Calibration) -> list[Item]:
    """Items whose identities the calibration was not built from (by its recorded split)."""
    split = cal.notes.get("split") if isinstance(cal.notes, dict) else None
    if not isinstance(split, dict):
        return items
    salt, fraction = str(split["salt"]), float(split["fraction"])
    return [i for i in items if stable_fraction(i.label, salt) >= fraction]


def _calibration_rows(cal: Calibration, items: list[Item], extracted: dict[Path, Any]) -> list[dict[str, Any]]:
    held = [i for i in _held_out(items, cal) if extracted[i.path].embedding is not None]
    if len({i.label for i in held}) < 2:
        return []
    scores = face_scores(held, extracted)
    return check_against(cal, scores.impostor, scores.impostor_weights)


def gallery_size_curve(scores: np.ndarray, gallery_labels: list[str], probe_labels: list[str],
                       cal: Calibration, sizes: list[int], fpir_target: float = FPIR_TARGET,
                       repeats: int = 5) -> list[dict[str, Any]]:
    """Sub-sample the gallery to simulate growth; at each size use the calibrated operating
    threshold (as the service would) and measure FNIR and the observed FPIR."""
    rng = np.random.default_rng(7)
    rows = []
    for n in sizes:
        if n > len(gallery_labels):
            continue
        fnirs, fpirs, fnirs_emp = [], [], []
        threshold = cal.threshold_for_fpir(fpir_target, n)[0]
        for _ in range(repeats):
            keep = np.sort(rng.choice(len(gallery_labels), n, replace=False))
            sub = scores[:, keep]
            labels = [gallery_labels[i] for i in keep]
            present = set(labels)
            mated = np.array([p in present for p in probe_labels])
            top = sub.max(axis=1)
            index = {g: i for i, g in enumerate(labels)}
            mate_ok = np.array([
                bool(sub[r, index[p]] >= threshold and (sub[r] > sub[r, index[p]]).sum() < 10) if m else False
                for r, (p, m) in enumerate(zip(probe_labels, mated))
            ])
            fnirs.append(1.0 - mate_ok[mated].mean() if mated.any() else np.nan)
            fpirs.append(float((top[~mated] >= threshold).mean()) if (~mated).any() else np.nan)
            res = metrics.open_set(sub, labels, probe_labels, fpir_targets=(fpir_target,))
            value = res.fnir_at_fpir.get(f"{fpir_target:g}")
            fnirs_emp.append(np.nan if value is None else value)
        if np.all(np.isnan(fnirs)) or np.all(np.isnan(fpirs)):
            continue  # nothing measurable at this size (no mated or no non-mated searches)
        rows.append({
            "gallery_size": n,
            "threshold": threshold,
            "per_comparison_fmr": fmr_for_fpir(fpir_target, n),
            "fnir_at_calibrated_threshold": float(np.nanmean(fnirs)),
            "observed_fpir_at_calibrated_threshold": float(np.nanmean(fpirs)),
            "fnir_at_empirical_fpir": None if np.all(np.isnan(fnirs_emp)) else float(np.nanmean(fnirs_emp)),
        })
    return rows


def group_table(items: list[Item], extracted: dict[Path, Any], groups: dict[str, str],
                threshold: float) -> list[dict[str, Any]]:
    """FMR and FNMR at ``threshold`` per group (impostor pairs within the same group)."""
    rows = []
    for group in sorted(set(groups.values())):
        members = [i for i in items if groups.get(i.label) == group and extracted[i.path].embedding is not None]
        if len({i.label for i in members}) < 2:
            continue
        vectors = np.stack([extracted[i.path].embedding for i in members])
        genuine, impostor = metrics.all_pair_scores(vectors, [i.label for i in members])
        rows.append({
            "group": group,
            "identities": len({i.label for i in members}),
            "images": len(members),
            "genuine_pairs": int(len(genuine)),
            "impostor_pairs": int(len(impostor)),
            "fmr": float((impostor >= threshold).mean()) if len(impostor) else None,
            "fnmr": float((genuine < threshold).mean()) if len(genuine) else None,
        })
    fmrs = [r["fmr"] for r in rows if r["fmr"]]
    fnmrs = [r["fnmr"] for r in rows if r["fnmr"] is not None]
    for r in rows:
        r["fmr_vs_lowest"] = (r["fmr"] / min(fmrs)) if fmrs and r["fmr"] else None
        r["fnmr_vs_lowest"] = (r["fnmr"] / min(fnmrs)) if fnmrs and min(fnmrs) > 0 and r["fnmr"] is not None else None
    return rows


def run_face_eval(settings: Settings, out: Path, *, pairs: Path | None = None, images: Path | None = None,
                  manifest: Path | None = None, groups: Path | None = None, cache_dir: Path | None = None,
                  workers: int | None = None, quiet: bool = False) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    if pairs is not None:
        assert images is not None
        results, arrays = lfw_pairs(pairs, images, settings, cache_dir=cache_dir, workers=workers, quiet=quiet)
        cal = find_calibration(results["model_id"], settings.calibration_dir)
        pair_list = read_lfw_pairs(pairs, images)
        items = sorted({(p, p.parent.name) for pr in pair_list for p in (pr.a, pr.b)})
        item_list = [Item(p, label) for p, label in items]
        extracted = extract_faces([i.path for i in item_list], settings, cache_dir=cache_dir, workers=workers,
                                  quiet=True)
        genuine, impostor = arrays["genuine"], arrays["impostor"]
        det_plot([("LFW pairs", genuine, impostor)], out / "det.png", "LFW pairs protocol (dev folds)")
        figures.append(("det.png", "DET curve of the pairs"))
    else:
        assert manifest is not None
        results, extra = open_set_manifest(manifest, settings, cache_dir=cache_dir, workers=workers, quiet=quiet)
        cal = find_calibration(results["model_id"], settings.calibration_dir)
        item_list, extracted = extra["items"], extra["extracted"]
        ok = [i for i in item_list if extracted[i.path].embedding is not None]
        # 1:1 DET from every pair of the held-out identities (never the calibration's own).
        held = [i for i in _held_out(ok, cal)]
        vectors = np.stack([extracted[i.path].embedding for i in held])
        genuine, impostor = metrics.all_pair_scores(vectors, [i.label for i in held])
        det_plot([("all pairs, held-out identities", genuine, impostor)], out / "det.png",
                 "Face verification DET (held-out identities)")
        figures.append(("det.png", "DET curve, all pairs of held-out identities"))
        os_res = extra["open_set"]
        curve_plot([("FNIR vs FPIR", os_res.curve_fpir, os_res.curve_fnir)], out / "fnir_fpir.png",
                   "FPIR (non-mated searches with any candidate ≥ t)", "FNIR (mate not in top 10 with score ≥ t)")
        figures.append(("fnir_fpir.png", "FNIR against FPIR (open-set, full gallery)"))
        g, p = extra["gallery"], extra["probes"]
        scores = np.stack([extracted[i.path].embedding for i in p]) @ np.stack([extracted[i.path].embedding for i in g]).T
        id_scores, labels = metrics.identity_scores(scores, [i.label for i in g])
        sizes = sorted({n for n in (100, 300, 1000, 3000, 10000, 30000) if n < len(labels)} | {len(labels)})
        growth = gallery_size_curve(id_scores, labels, [i.label for i in p], cal, sizes)
        results["gallery_size_curve"] = growth
        curve_plot([
            ("FNIR at calibrated threshold", [r["gallery_size"] for r in growth],
             [r["fnir_at_calibrated_threshold"] for r in growth]),
            ("observed FPIR at calibrated threshold", [r["gallery_size"] for r in growth],
             [r["observed_fpir_at_calibrated_threshold"] for r in growth]),
        ], out / "gallery_size.png", "gallery size (identities)", f"rate (target FPIR {FPIR_TARGET:.0%})")
        figures.append(("gallery_size.png", "FNIR and observed FPIR as the gallery grows (threshold follows N)"))
        histogram_plot(genuine, impostor, out / "scores.png", cal.threshold_for_fpir(FPIR_TARGET, len(labels))[0])
        figures.append(("scores.png", "Score distributions (held-out identities)"))
    n_gallery = int(results.get("gallery_identities") or 1000)
    threshold = cal.threshold_for_fpir(FPIR_TARGET, n_gallery)[0]
    results["fpir_target"] = FPIR_TARGET
    results["threshold"] = threshold
    results["threshold_gallery_size"] = n_gallery
    results["calibration_version"] = cal.version
    results["calibration_dataset"] = cal.dataset
    results["calibration"] = _calibration_rows(cal, item_list, extracted)
    if results["calibration"]:
        calibration_plot(results["calibration"], out / "calibration.png")
        figures.append(("calibration.png", "Predicted vs observed FMR on identities the calibration did not see"))
    if groups is not None:
        group_map = read_groups(groups)
        results["groups"] = group_table(item_list, extracted, group_map, threshold)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default))
    write_html(out / "report.html", results, figures)
    return results


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def write_html(path: Path, results: dict[str, Any], figures: list[tuple[str, str]]) -> None:
    def row(k: str, v: Any) -> str:
        return f"<tr><th>{html.escape(k)}</th><td>{html.escape(json.dumps(v, default=_json_default))}</td></tr>"

    scalars = "".join(row(k, v) for k, v in results.items() if not isinstance(v, (list, dict)) or k == "fnir_at_fpir")
    tables = ""
    for key in ("calibration", "gallery_size_curve", "groups"):
        rows = results.get(key) or []
        if rows:
            head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in rows[0]) + "</tr>" for r in rows
            )
            tables += f"<h2>{html.escape(key)}</h2><table><tr>{head}</tr>{body}</table>"
    imgs = "".join(f'<figure><img src="{f}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>'
                   for f, c in figures)
    path.write_text(
        "<!doctype html><meta charset=utf-8><title>FieldID evaluation</title>"
        "<style>body{font:14px system-ui;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}figure{display:inline-block;margin:.5em}"
        "img{max-width:460px}</style>"
        f"<h1>FieldID evaluation: {html.escape(str(results.get('protocol')))}</h1>"
        f"<table>{scalars}</table>{tables}{imgs}"
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


__all__ = ["det_plot", "gallery_size_curve", "group_table", "run_face_eval", "split_by_identity"]
