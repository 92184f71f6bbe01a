"""Readers for evaluation data: `path,label[,group]` manifests and LFW `pairs.txt`."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fieldid.errors import InvalidRequest


@dataclass(frozen=True)
class Item:
    path: Path
    label: str
    group: str | None = None


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def read_manifest(path: Path) -> list[Item]:
    """`path,label` (optionally `,group`) CSV; paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"Manifest {path} does not exist.")
    base = path.parent
    items: list[Item] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or ())
        if not {"path", "label"} <= fields:
            raise InvalidRequest(f"Manifest {path} needs the columns path,label (has {sorted(fields)}).")
        for row in reader:
            if not row.get("path") or not row.get("label"):
                continue
            group = (row.get("group") or "").strip() or None
            items.append(Item(base / row["path"].strip(), row["label"].strip(), group))
    if not items:
        raise InvalidRequest(f"Manifest {path} lists no images.")
    return items


def read_groups(path: Path) -> dict[str, str]:
    """`path,label,group` CSV → {label: group} (the group of a label's first row)."""
    groups: dict[str, str] = {}
    for item in read_manifest(path):
        if item.group:
            groups.setdefault(item.label, item.group)
    return groups


def lfw_image(images_dir: Path, name: str, number: int) -> Path:
    return Path(images_dir) / name / f"{name}_{number:04d}.jpg"


def read_lfw_pairs(pairs_path: Path, images_dir: Path) -> list[Pair]:
    """LFW View 2 `pairs.txt`: header "folds<TAB>n", then per fold n matched and n mismatched lines."""
    lines = [ln.strip("\n") for ln in Path(pairs_path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise InvalidRequest(f"{pairs_path} is empty.")
    try:
        folds, per_fold = (int(x) for x in lines[0].split())
    except ValueError:
        raise InvalidRequest(f"{pairs_path}: first line must be '<folds> <pairs per fold>'.") from None
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise InvalidRequest(f"{pairs_path}: expected {folds * per_fold * 2} pair lines, found {len(body)}.")
    pairs = []
    for index, line in enumerate(body):
        parts = line.split("\t") if "\t" in line else line.split()
        fold = index // (2 * per_fold)
        if len(parts) == 3:
            pairs.append(Pair(lfw_image(images_dir, parts[0], int(parts[1])),
                              lfw_image(images_dir, parts[0], int(parts[2])), True, fold))
        elif len(parts) == 4:
            pairs.append(Pair(lfw_image(images_dir, parts[0], int(parts[1])),
                              lfw_image(images_dir, parts[2], int(parts[3])), False, fold))
        else:
            raise InvalidRequest(f"{pairs_path}: line {index + 2} is not an LFW pair.")
    return pairs


def stable_fraction(text: str, salt: str = "") -> float:
    """A deterministic number in [0, 1) from a string (reproducible splits without RNG state)."""
    return int(hashlib.sha256((salt + text).encode()).hexdigest()[:12], 16) / float(16**12)
