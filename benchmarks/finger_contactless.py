"""Contactless-style photos against contact templates: FVC2000 DB1_B–DB3_B rendered as phones.

How the inputs are made (no contactless data set is available here): impressions 1 and 2 of
each real FVC finger are rendered by :func:`fieldid.core.finger.synth.render_contactless`
(ridges bright on skin, random scale 0.6–1.6, perspective, skin-tone colour and background,
uneven light and glare, blur, JPEG 70–90; seeded), saved as JPEG, and run through the
contactless path (`extract_fingers_from_photo`: skin segmentation, upright tip, scale from
ridge period, multi-scale matching). Gallery: contact templates of impressions 3–8.
Genuine: photo vs the same finger's contact templates; impostor: photo vs every other
finger's contact templates of the same database (DB1_B and DB2_B share fingers).
Baseline in the same run: the contact path on the *unrendered* impressions 1–2 against the
same gallery (what the rendering costs).

    .venv/bin/python benchmarks/finger_contactless.py --out benchmarks/results/finger_contactless.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from fieldid.core.finger.synth import render_contactless
from fieldid.eval import fingers as fe
from fieldid.eval.datasets import Item
from fieldid.imaging import ImageLimits

DATA = Path("/work/shared/data/fingerprints/fvc2000-b")
REAL = ("DB1_B", "DB2_B", "DB3_B")


def pairs_for(probes: list[Item], gallery: list[Item]) -> tuple[list, list]:
    genuine = [(p, g) for p in probes for g in gallery if g.label == p.label]
    impostor = [
        (p, g) for p in probes for g in gallery if g.label != p.label and g.group == p.group.split(":")[-1]
    ]
    return genuine, impostor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/finger_contactless.json"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fieldid-contactless-"))
    photos, contact_probes, gallery, drawn = [], [], [], []
    for db in REAL:
        for f in range(101, 111):
            label = f"fvc2000_{db[:3].lower()}_{f}"
            for i in (1, 2):
                src = DATA / db / f"{f}_{i}.tif"
                rgb, info = render_contactless(np.array(Image.open(src).convert("L")), rng)
                path = work / f"{db}_{f}_{i}.jpg"
                cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                photos.append(Item(path, label, f"contactless:{db}"))
                contact_probes.append(Item(src, label, f"contact:{db}"))
                drawn.append(info)
            gallery += [Item(DATA / db / f"{f}_{i}.tif", label, db) for i in range(3, 9)]
    photo_items = [Item(p.path, p.label, fe.CONTACTLESS_GROUP) for p in photos]
    extracted = fe.extract_templates(
        photo_items + contact_probes + gallery, ImageLimits(), workers=args.workers
    )
    scorer = fe.PairScorer(extracted)
    rows = {}
    for name, probes in (("contactless photos", photos), ("contact baseline", contact_probes)):
        gen_pairs, imp_pairs = pairs_for(probes, gallery)
        genuine, impostor = scorer.score(gen_pairs), scorer.score(imp_pairs)
        hits = 0
        for p in probes:
            cands = [g for g in gallery if g.group == p.group.split(":")[-1]]
            s = scorer.score([(p, g) for g in cands])
            hits += int(cands[int(np.argmax(s))].label == p.label and s.max() > 0)
        fte = sum(1 for p in probes if extracted[p.path].template is None)
        quality = [extracted[p.path].template.quality.score for p in probes if extracted[p.path].template]
        rows[name] = {
            **fe.rates(genuine, impostor),
            "rank1": hits / len(probes),
            "probes": len(probes),
            "failures_to_extract": fte,
            "median_quality": float(np.median(quality)) if quality else 0.0,
        }
    table = Table(title="Contactless-style photos vs contact templates (FVC2000 DB1-3, rendered)")
    for col in ("probes", "EER", "FNMR@1%", "FNMR@0.1%", "rank-1", "FTE", "genuine/impostor pairs"):
        table.add_column(col)
    for name, r in rows.items():
        table.add_row(
            name,
            f"{r['eer']:.2%}",
            f"{r['fnmr_at_fmr']['0.01']:.2%}",
            f"{r['fnmr_at_fmr']['0.001']:.2%}",
            f"{r['rank1']:.1%}",
            str(r["failures_to_extract"]),
            f"{r['genuine_pairs']}/{r['impostor_pairs']}",
        )
    Console().print(table)
    scales = [d["scale"] for d in drawn]
    result = {
        "sets": rows,
        "rendering": {
            "seed": args.seed,
            "photos": len(photos),
            "scale_min": min(scales),
            "scale_max": max(scales),
        },
        "ratio_eer_contactless_to_contact": rows["contactless photos"]["eer"]
        / max(rows["contact baseline"]["eer"], 1e-9),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    Console().print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
