"""Face extraction in worker processes, so that one server process uses every core.

dlib's detector and ResNet hold Python's GIL while they run, so the server's thread pool
cannot extract two faces at once: one process tops out at one core (``benchmarks/load.py``).
:class:`ExtractionPool` runs decode + detection + landmarks + embedding — everything CPU-bound
in a face request — in ``workers`` processes (started with *spawn*, each loading the models
once); searching, storage and the audit stay in the server process, which owns the index and
the database. What crosses the boundary is the uploaded bytes in and the decoded image and
template out, or the same :class:`~fieldid.errors.FieldIDError` an in-process extraction
would raise. A worker that dies (out of memory, a crash in native code) fails only the
requests it was running, with ``extraction_unavailable``; the pool is replaced for the next.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from fieldid.errors import ExtractionUnavailable

if TYPE_CHECKING:
    from fieldid.config import Settings
    from fieldid.core.params import FaceParams
    from fieldid.imaging import DecodedImage
    from fieldid.types import FaceTemplate

log = logging.getLogger(__name__)

# -- inside a worker process -----------------------------------------------------------------
_worker: dict[str, object] = {}


def _init(settings: Settings, params: FaceParams) -> None:
    from fieldid.models.registry import FaceModelLoader

    _worker["settings"], _worker["params"] = settings, params
    _worker["models"] = FaceModelLoader(settings)


def _warm() -> str:
    return _worker["models"].get().embedder.model_id  # type: ignore[attr-defined]


def _extract(data: bytes, jitters: int) -> tuple[DecodedImage, FaceTemplate]:
    from fieldid.core.face import extract_face
    from fieldid.imaging import decode_image

    settings = _worker["settings"]
    decoded = decode_image(data, settings.image_limits)  # type: ignore[attr-defined]
    template = extract_face(decoded.rgb, _worker["models"].get(), _worker["params"],  # type: ignore[attr-defined]
                            jitters=jitters)
    return decoded, template


# -- in the server process -------------------------------------------------------------------
class ExtractionPool:
    def __init__(self, settings: Settings, params: FaceParams, workers: int) -> None:
        if workers < 1:
            raise ValueError("an extraction pool needs at least one worker")
        self.workers = workers
        self._settings, self._params = settings, params
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        #: Every worker has started and loaded its models (after :meth:`warm_up`).
        self.ready = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init, initargs=(self._settings, self._params),
                )
            return self._pool

    def warm_up(self) -> str:
        """Start every worker and load its models (else the first requests pay for it)."""
        pool = self._executor()
        ids = {f.result() for f in [pool.submit(_warm) for _ in range(self.workers)]}
        self.ready = True
        return ids.pop()

    def extract(self, data: bytes, jitters: int = 0) -> tuple[DecodedImage, FaceTemplate]:
        pool = self._executor()
        try:
            return pool.submit(_extract, bytes(data), int(jitters)).result()
        except BrokenProcessPool:
            self._replace(pool)
            raise ExtractionUnavailable(
                "The face extraction worker stopped unexpectedly; please retry.") from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                log.error("a face extraction worker died; starting a new pool")
                self._pool, self.ready = None, False
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
