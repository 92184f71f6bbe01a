"""Files of the FAISS index: one generation of files per space, named by a manifest.

A space is saved as ``<key>.<gen>.ids.npy`` and ``<key>.<gen>.vec.npy`` (its live vectors),
plus ``<key>.<gen>.ann.faiss`` and ``<key>.<gen>.tomb.npy`` when it has an approximate index.
New files get a new generation number and the manifest (``manifest.json``) is replaced last,
atomically, so a crash at any point leaves the previous snapshot whole; files no manifest
names are swept after the next successful write. Manifests of the first version (one
``IndexIDMap2`` file per space) are still read.

With a data keyring (encryption at rest), every file but the manifest is written encrypted
(:meth:`Keyring.write_file`); reading tells encrypted from plain files by their first bytes,
so a directory written before encryption was switched on still loads, and the next write of a
space encrypts it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from fieldid.errors import StorageError
from fieldid.storage.ann_build import Tombstones, ann_kind
from fieldid.storage.crypto import DataKeyError, file_key_id, is_encrypted_file
from fieldid.storage.faiss_rows import RowStore

if TYPE_CHECKING:
    from fieldid.storage.crypto import Keyring

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


def read_space(directory: Path, entry: dict, keyring: Keyring | None = None) -> SpaceFiles:
    """One space from its manifest entry (raises RuntimeError/OSError/ValueError when damaged)."""
    if "file" in entry:  # format 1: a single IndexIDMap2 over IndexFlatIP
        index = faiss.read_index(str(directory / entry["file"]))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vectors = np.zeros((0, index.d), np.float32)
        if index.ntotal:
            vectors = index.index.reconstruct_n(0, index.ntotal)
        return SpaceFiles(RowStore(index.d, ids, vectors), None, Tombstones(), 0)
    stem = directory / f"{entry['key']}.{entry['gen']}"
    ids = _load_npy(Path(f"{stem}.ids.npy"), keyring)
    vectors = _load_npy(Path(f"{stem}.vec.npy"), keyring)
    ann = None
    tombstones = Tombstones()
    if entry.get("ann"):
        ann = _load_faiss(Path(f"{stem}.ann.faiss"), keyring)
        tombstones = Tombstones(_load_npy(Path(f"{stem}.tomb.npy"), keyring))
    if len(ids) != entry["count"] or vectors.shape != (len(ids), entry["dim"]):
        raise ValueError(f"space files of generation {entry['gen']} disagree with the manifest")
    return SpaceFiles(RowStore(entry["dim"], ids, vectors), ann, tombstones, entry["gen"])


def write_space(
    directory: Path, space: str, gen: int, store: RowStore, ann: faiss.Index | None, tombstones: Tombstones,
    keyring: Keyring | None = None,
) -> dict:
    """Write one generation of a space's files; returns its manifest entry."""
    key = space_key_file(space)
    stem = directory / f"{key}.{gen}"
    alive = store.alive_mask()
    _save_npy(Path(f"{stem}.ids.npy"), store.ids_by_row()[alive], keyring)
    _save_npy(Path(f"{stem}.vec.npy"), store.vectors()[alive], keyring)
    kind = None
    if ann is not None:
        kind = ann_kind(ann)
        tmp = Path(f"{stem}.ann.faiss.tmp")
        if keyring is None:
            faiss.write_index(ann, str(tmp))
        else:
            with open(tmp, "wb") as fh:
                keyring.write_file(fh, [faiss.serialize_index(ann)])
        _fsync(tmp)
        os.replace(tmp, f"{stem}.ann.faiss")
        _save_npy(Path(f"{stem}.tomb.npy"), tombstones.ids, keyring)
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


def space_files(directory: Path, entries: dict[str, dict]) -> list[Path]:
    """Every file the manifest's spaces are made of."""
    out = []
    for e in entries.values():
        if "file" in e:
            out.append(directory / e["file"])
            continue
        stem = f"{e['key']}.{e['gen']}"
        names = ["ids.npy", "vec.npy", *(["ann.faiss", "tomb.npy"] if e.get("ann") else [])]
        out.extend(directory / f"{stem}.{n}" for n in names)
    return out


def file_keys(directory: Path) -> dict[str, int]:
    """How many of the index's files each key encrypts ("plain": not encrypted)."""
    usage: dict[str, int] = {}
    for path in space_files(directory, read_manifest(directory)):
        if path.exists():
            kid = file_key_id(path)
            label = kid.hex() if kid else "plain"
            usage[label] = usage.get(label, 0) + 1
    return usage


def reencrypt_files(directory: Path, keyring: Keyring) -> int:
    """Rewrite every file of the index under the keyring's current key (each replaced atomically)."""
    n = 0
    for path in space_files(directory, read_manifest(directory)):
        if not path.exists() or file_key_id(path) == keyring.current_id:
            continue
        plain = _decrypted(path, keyring)
        if plain is None:
            plain = path.read_bytes()
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            keyring.write_file(fh, [plain])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        n += 1
    _fsync(directory)
    return n


def _save_npy(path: Path, array: np.ndarray, keyring: Keyring | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    array = np.ascontiguousarray(array)
    with open(tmp, "wb") as fh:
        if keyring is None:
            np.save(fh, array)
        else:  # the .npy bytes, encrypted chunk by chunk straight from the array's memory
            head = io.BytesIO()
            np.lib.format.write_array_header_2_0(head, np.lib.format.header_data_from_array_1_0(array))
            keyring.write_file(fh, [head.getvalue(), memoryview(array).cast("B") if array.size else b""])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _decrypted(path: Path, keyring: Keyring | None) -> bytearray | None:
    """The plaintext of an encrypted file, or None when the file is plain."""
    with open(path, "rb") as fh:
        if not is_encrypted_file(fh.read(8)):
            return None
        if keyring is None:
            raise DataKeyError(f"{path.name} is encrypted but no data keyring is configured.")
        fh.seek(0)
        return keyring.read_file(fh)


def _load_npy(path: Path, keyring: Keyring | None) -> np.ndarray:
    plain = _decrypted(path, keyring)
    if plain is None:
        return np.load(path, allow_pickle=False)
    head = io.BytesIO(plain[: 1 << 16])  # the header is at most 64 kB (format 2.0: far less here)
    version = np.lib.format.read_magic(head)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(head)
    if fortran or dtype.hasobject:
        raise ValueError(f"{path.name}: unexpected array layout")
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(plain, dtype, count=count, offset=head.tell()).reshape(shape)


def _load_faiss(path: Path, keyring: Keyring | None) -> faiss.Index:
    plain = _decrypted(path, keyring)
    if plain is None:
        return faiss.read_index(str(path))
    return faiss.deserialize_index(np.frombuffer(plain, np.uint8))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
