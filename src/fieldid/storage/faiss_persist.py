"""Files of the FAISS index: one generation of files per space, named by a manifest.

A space is saved as ``<key>.<gen>.ids.npy`` and ``<key>.<gen>.vec.npy`` (its live vectors),
plus ``<key>.<gen>.ann.faiss`` and ``<key>.<gen>.tomb.npy`` when it has an approximate index.
New files get a new generation number and the manifest (``manifest.json``) is replaced last,
atomically, so a crash at any point leaves the previous snapshot whole; files no manifest
names are swept after the next successful write. Manifests of the first version (one
``IndexIDMap2`` file per space) are still read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from fieldid.errors import StorageError
from fieldid.storage.ann_build import Tombstones, ann_kind
from fieldid.storage.faiss_rows import RowStore

MANIFEST = "manifest.json"
FORMAT_VERSION = 2


@dataclass
class SpaceFiles:
    """What one space's snapshot holds once read back."""

    store: RowStore
    ann: faiss.Index | None
    tombstones: Tombstones
    gen: int


def space_key_file(space: str) -> str:
    return hashlib.sha256(space.encode()).hexdigest()[:24]


def read_manifest(directory: Path) -> dict[str, dict]:
    path = directory / MANIFEST
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text())["spaces"])
    except (ValueError, KeyError) as exc:
        raise StorageError(f"FAISS manifest {path} is unreadable: {exc}") from exc


def read_space(directory: Path, entry: dict) -> SpaceFiles:
    """One space from its manifest entry (raises RuntimeError/OSError/ValueError when damaged)."""
    if "file" in entry:  # format 1: a single IndexIDMap2 over IndexFlatIP
        index = faiss.read_index(str(directory / entry["file"]))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vectors = np.zeros((0, index.d), np.float32)
        if index.ntotal:
            vectors = index.index.reconstruct_n(0, index.ntotal)
        return SpaceFiles(RowStore(index.d, ids, vectors), None, Tombstones(), 0)
    stem = directory / f"{entry['key']}.{entry['gen']}"
    ids = np.load(f"{stem}.ids.npy")
    vectors = np.load(f"{stem}.vec.npy")
    ann = None
    tombstones = Tombstones()
    if entry.get("ann"):
        ann = faiss.read_index(f"{stem}.ann.faiss")
        tombstones = Tombstones(np.load(f"{stem}.tomb.npy"))
    if len(ids) != entry["count"] or vectors.shape != (len(ids), entry["dim"]):
        raise ValueError(f"space files of generation {entry['gen']} disagree with the manifest")
    return SpaceFiles(RowStore(entry["dim"], ids, vectors), ann, tombstones, entry["gen"])


def write_space(
    directory: Path, space: str, gen: int, store: RowStore, ann: faiss.Index | None, tombstones: Tombstones
) -> dict:
    """Write one generation of a space's files; returns its manifest entry."""
    key = space_key_file(space)
    stem = directory / f"{key}.{gen}"
    alive = store.alive_mask()
    _save_npy(Path(f"{stem}.ids.npy"), store.ids_by_row()[alive])
    _save_npy(Path(f"{stem}.vec.npy"), store.vectors()[alive])
    kind = None
    if ann is not None:
        kind = ann_kind(ann)
        tmp = Path(f"{stem}.ann.faiss.tmp")
        faiss.write_index(ann, str(tmp))
        _fsync(tmp)
        os.replace(tmp, f"{stem}.ann.faiss")
        _save_npy(Path(f"{stem}.tomb.npy"), tombstones.ids)
    return {"key": key, "gen": gen, "count": store.alive_count, "dim": store.dim, "ann": kind}


def write_manifest(directory: Path, entries: dict[str, dict]) -> None:
    body = {"version": FORMAT_VERSION, "spaces": entries}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    _fsync(tmp)
    os.replace(tmp, directory / MANIFEST)
    _fsync(directory)


def sweep(directory: Path, entries: dict[str, dict]) -> None:
    """Delete space files that the manifest no longer names (old generations, dropped spaces)."""
    keep = {f"{e['key']}.{e['gen']}." for e in entries.values() if "key" in e}
    keep_files = {e["file"] for e in entries.values() if "file" in e}
    for path in directory.iterdir():
        name = path.name
        if name.startswith(MANIFEST) or name in keep_files:
            continue
        if name.endswith((".npy", ".faiss", ".tmp")) and not any(name.startswith(k) for k in keep):
            path.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
