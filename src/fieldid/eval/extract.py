"""Face embeddings for evaluation: parallel extraction with a progress bar and a cache.

The cache (one ``.npz`` per model id) is keyed by the SHA-256 of each image's bytes, so it
survives moved folders and never serves a stale embedding for a changed file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fieldid.config import Settings
from fieldid.errors import FieldIDError

_worker_models = None
_worker_settings: Settings | None = None


@dataclass(frozen=True)
class Extracted:
    embedding: np.ndarray | None  # None when extraction failed
    failure: str | None  # error code or quality issue code
    seconds: float
    quality: float | None = None


def _init_worker(settings: Settings) -> None:
    global _worker_models, _worker_settings
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fieldid.models.registry import FaceModelLoader

    _worker_settings = settings
    _worker_models = FaceModelLoader(settings).get()


def _extract_one(path: str) -> tuple[str, Extracted, str]:
    from fieldid.core.face import extract_face
    from fieldid.imaging import decode_image

    assert _worker_models is not None and _worker_settings is not None
    start = time.perf_counter()
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = decode_image(data, _worker_settings.image_limits)
        template = extract_face(image.rgb, _worker_models)
    except FieldIDError as exc:
        return path, Extracted(None, exc.code, time.perf_counter() - start), digest
    return (
        path,
        Extracted(np.asarray(template.embedding), None, time.perf_counter() - start, template.quality.score),
        digest,
    )


def model_id_for(settings: Settings) -> str:
    from fieldid.models.registry import FaceModelLoader

    return FaceModelLoader(settings).embedder_model_id


def extract_faces(
    paths: Sequence[Path],
    settings: Settings,
    *,
    workers: int | None = None,
    cache_dir: Path | None = None,
    description: str = "Extracting faces",
    quiet: bool = False,
) -> dict[Path, Extracted]:
    """Embeddings for every path (None + reason where extraction failed)."""
    unique = list(dict.fromkeys(Path(p) for p in paths))
    model_id = model_id_for(settings)
    cache = _Cache(cache_dir, model_id) if cache_dir else None
    results: dict[Path, Extracted] = {}
    todo: list[Path] = []
    for p in unique:
        hit = cache.get(p) if cache else None
        if hit is not None:
            results[p] = hit
        else:
            todo.append(p)
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=quiet, transient=False) as progress:
        task = progress.add_task(description, total=len(unique), completed=len(unique) - len(todo))
        if todo:
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(settings,)) as pool:
                for path, extracted, digest in pool.map(_extract_one, [str(p) for p in todo], chunksize=8):
                    results[Path(path)] = extracted
                    if cache:
                        cache.put(Path(path), digest, extracted)
                    progress.advance(task)
    if cache:
        cache.save()
    return results


class _Cache:
    def __init__(self, directory: Path, model_id: str) -> None:
        self.file = Path(directory) / (hashlib.sha256(model_id.encode()).hexdigest()[:16] + ".npz")
        self.entries: dict[str, tuple[np.ndarray | None, str | None, float, float | None]] = {}
        self.dirty = False
        if self.file.exists():
            data = np.load(self.file, allow_pickle=False)
            for digest, vec, failure, secs, quality in zip(
                data["digests"], data["vectors"], data["failures"], data["seconds"], data["quality"]
            ):
                fail = str(failure) or None
                self.entries[str(digest)] = (None if fail else vec, fail, float(secs),
                                             None if np.isnan(quality) else float(quality))

    def get(self, path: Path) -> Extracted | None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entry = self.entries.get(digest)
        if entry is None:
            return None
        return Extracted(*entry)

    def put(self, path: Path, digest: str, extracted: Extracted) -> None:
        self.entries[digest] = (extracted.embedding, extracted.failure, extracted.seconds, extracted.quality)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or not self.entries:
            return
        dims = {len(v[0]) for v in self.entries.values() if v[0] is not None}
        dim = dims.pop() if dims else 1
        digests = list(self.entries)
        vectors = np.stack([
            self.entries[d][0] if self.entries[d][0] is not None else np.zeros(dim, np.float32) for d in digests
        ]).astype(np.float32)
        failures = np.array([self.entries[d][1] or "" for d in digests])
        seconds = np.array([self.entries[d][2] for d in digests])
        quality = np.array([np.nan if self.entries[d][3] is None else self.entries[d][3] for d in digests])
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp.npz")
        np.savez(tmp, digests=np.array(digests), vectors=vectors, failures=failures, seconds=seconds, quality=quality)
        os.replace(tmp, self.file)
