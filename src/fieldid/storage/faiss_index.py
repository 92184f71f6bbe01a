"""Embedded FAISS index: per space, the float32 vectors plus, for large spaces, an approximate index.

Each space keeps its vectors in a :class:`~fieldid.storage.faiss_rows.RowStore`. A small space
is searched exactly over them; past the sizes in :class:`~fieldid.storage.ann_policy.AnnPolicy`
it also gets an HNSW graph or an IVF-PQ index that proposes ``k × rescore_factor`` candidates,
which are re-scored exactly against the stored vectors — a caller always sees exact scores,
sorted by them. ``FaissIndex(directory)`` with the default policy is the exact index.

Deletions are tombstones inside the approximate index (HNSW cannot remove), filtered out
inside the search by an id selector; :meth:`FaissIndex.rebuild` builds a fresh index without
them in a background thread while searches keep using the old one, then swaps it in under
the lock after replaying the changes made meanwhile. Rebuilds also start by themselves when a
space outgrows its kind or its tombstones pass ``tombstone_rebuild_fraction``.

Persistence: see :mod:`fieldid.storage.faiss_persist` (generations + atomic manifest). A
snapshot may lag the database (small spaces are saved after every change, large ones every
``save_every`` changes); :func:`fieldid.storage.reconcile.reconcile_index` replays the
difference from the database at start-up.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from fieldid.errors import InvalidRequest
from fieldid.storage import faiss_persist as files
from fieldid.storage.ann_build import (
    Tombstones,
    ann_candidates,
    ann_kind,
    ann_nbytes,
    build_ann,
    erase,
    omp_threads,
)
from fieldid.storage.ann_policy import AnnPolicy
from fieldid.storage.faiss_rows import RowStore
from fieldid.storage.memory_index import _check
from fieldid.types import ScoredId

if TYPE_CHECKING:
    from fieldid.storage.crypto import Keyring

log = logging.getLogger(__name__)

#: Spaces up to this many vectors are saved after every change (≤ ~5 MB at 128-d); larger ones
#: every ``save_every`` additions (the database replays what a crash lost) and after any removal.
SMALL_SPACE = 10_000
#: The row store drops dead rows when they pass this many (and the tombstone fraction).
COMPACT_MIN_DEAD = 1024
#: An IVF index trained on n vectors is retrained once the space holds this many times more.
IVF_RETRAIN_GROWTH = 4
#: Exact scans of at least this many vectors use a BLAS product (see _exact_scan) …
BLAS_SCAN_FROM = 50_000
#: … holding at most this many scores at once (queries × vectors, 64 MB).
EXACT_SCORE_BUDGET = 16_000_000
_KIND_RANK = {"flat": 0, "hnsw": 1, "ivfpq": 2}


@dataclass
class _BuildLog:
    """Changes made to a space while its new index is built, replayed at the swap."""

    future: Future
    added: list[np.ndarray] = field(default_factory=list)
    removed: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Space:
    store: RowStore
    ann: faiss.Index | None = None
    tombstones: Tombstones = field(default_factory=Tombstones)
    #: Ids in the store but not in ``ann`` (re-added after a removal), scanned exactly.
    tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    built_size: int = 0
    #: A kind set by an explicit ``rebuild(space, kind)``: size rules no longer change it.
    pinned: str | None = None
    pending: int = 0
    #: Vectors were removed since the last save (a removal is saved at the next flush).
    erased: bool = False
    build: _BuildLog | None = None

    @property
    def kind(self) -> str:
        return "flat" if self.ann is None else ann_kind(self.ann)


class FaissIndex:
    def __init__(
        self, directory: Path, save_every: int = 1000, policy: AnnPolicy | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self._dir = Path(directory)
        self.keyring = keyring  # encrypts the files (vectors, graphs) when set
        self._dir.mkdir(parents=True, exist_ok=True)
        self._save_every = save_every
        self.policy = policy or AnnPolicy()
        self._lock = threading.RLock()
        self._build_slot = threading.Semaphore(1)  # one build at a time: builds use every core
        self._spaces: dict[str, _Space] = {}
        self._entries: dict[str, dict] = {}
        self._gen = 0  # file generations only grow, so a write never overwrites files in use
        self._closed = False
        self._load(self._dir)

    # -- persistence -------------------------------------------------------------------------
    def _load(self, directory: Path) -> None:
        entries = files.read_manifest(directory)
        self._gen = max([self._gen, *(int(e.get("gen", 0)) for e in entries.values())])
        for space, entry in entries.items():
            try:
                loaded = files.read_space(directory, entry, self.keyring)
            except (RuntimeError, OSError, ValueError) as exc:
                # A missing/corrupt snapshot is not fatal: reconciliation rebuilds from the DB.
                log.warning("index space %s not loaded (%s); reconciliation will rebuild it", space, exc)
                continue
            self._spaces[space] = _Space(
                loaded.store, loaded.ann, loaded.tombstones, built_size=loaded.ann.ntotal if loaded.ann else 0
            )
            if directory == self._dir and "key" in entry:
                self._entries[space] = entry
            else:
                self._spaces[space].pending = 1  # a legacy or foreign snapshot: rewrite in our format
        for space in list(self._spaces):
            self._maybe_rebuild(space)

    def flush(self, force: bool = False) -> None:
        with self._lock:
            due = [s for s, sp in self._spaces.items() if sp.pending and (force or self._save_due(sp))]
            for space in due:
                sp = self._spaces[space]
                if sp.store.alive_count == 0:
                    self._entries.pop(space, None)
                else:
                    self._gen += 1
                    self._entries[space] = files.write_space(
                        self._dir, space, self._gen, sp.store, sp.ann, sp.tombstones, self.keyring
                    )
                sp.pending, sp.erased = 0, False
            if due:
                files.write_manifest(self._dir, self._entries)
                files.sweep(self._dir, self._entries)

    def _save_due(self, sp: _Space) -> bool:
        return sp.erased or sp.pending >= self._save_every or sp.store.alive_count <= SMALL_SPACE

    def snapshot(self, directory: Path) -> None:
        """Write a consistent copy of every space to ``directory`` (replaced if it exists).

        Holds the lock while writing, so the copy is one moment's state of all spaces.
        """
        target = Path(directory)
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with self._lock:
            entries = {
                space: files.write_space(tmp, space, 1, sp.store, sp.ann, sp.tombstones, self.keyring)
                for space, sp in self._spaces.items() if sp.store.alive_count
            }
        files.write_manifest(tmp, entries)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)

    def restore(self, directory: Path) -> None:
        """Replace every space with the snapshot in ``directory`` and save it as this index's state.

        Builds still running are discarded. Reconcile against the database afterwards: the
        snapshot may be older than it.
        """
        with self._lock:
            self._spaces, old = {}, self._spaces
            for sp in old.values():
                sp.build = None  # the build's swap sees it is stale and drops its result
            self._load(Path(directory))
            for space, sp in old.items():  # spaces the snapshot lacks are emptied
                self._spaces.setdefault(space, _Space(RowStore(sp.store.dim)))
            for sp in self._spaces.values():
                sp.pending = 1
            self.flush(force=True)

    def close(self) -> None:
        """Stop starting builds (a running one finishes in its daemon thread and is dropped)."""
        with self._lock:
            self._closed = True
            for sp in self._spaces.values():
                sp.build = None

    # -- VectorIndex -------------------------------------------------------------------------
    def add(self, space: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = _check(ids, vectors)
        if len(ids) == 0:
            return
        with self._lock:
            sp = self._spaces.get(space)
            if sp is None:
                sp = self._spaces[space] = _Space(RowStore(vectors.shape[1]))
            if sp.store.dim != vectors.shape[1]:
                raise InvalidRequest("vector dimension differs from the space's", space=space)
            if len(np.unique(ids)) != len(ids) or (sp.store.rows_of(ids) >= 0).any():
                raise InvalidRequest("vector id already present", space=space)
            sp.store.append(ids, vectors)
            if sp.ann is not None:
                again = np.isin(ids, sp.tombstones.ids)  # a tombstoned id cannot enter the index twice
                if (~again).any():
                    sp.ann.add_with_ids(vectors[~again], ids[~again])
                if again.any():
                    sp.tail = np.union1d(sp.tail, ids[again])
            if sp.build is not None:
                sp.build.added.append(ids)
            sp.pending += len(ids)
        self._maybe_rebuild(space)

    def reserve(self, space: str, dim: int, capacity: int) -> None:
        """Pre-size a space for a bulk load: growing by copies would briefly need twice the memory."""
        with self._lock:
            sp = self._spaces.get(space)
            if sp is None:
                sp = self._spaces[space] = _Space(RowStore(dim))
            if sp.store.dim != dim:
                raise InvalidRequest("vector dimension differs from the space's", space=space)
            sp.store.reserve(capacity)

    def remove(self, space: str, ids: np.ndarray) -> int:
        with self._lock:
            sp = self._spaces.get(space)
            if sp is None:
                return 0
            ids = np.unique(np.asarray(ids, dtype=np.int64))
            rows = sp.store.rows_of(ids)
            gone = ids[rows >= 0]
            if not len(gone):
                return 0
            sp.store.kill(rows[rows >= 0])
            if sp.ann is not None:
                in_tail = np.isin(gone, sp.tail)
                sp.tail = np.setdiff1d(sp.tail, gone)
                sp.tombstones.add(gone[~in_tail])
                erase(sp.ann, gone[~in_tail])
            if sp.build is not None:
                sp.build.removed.append(gone)
            if sp.store.dead > max(COMPACT_MIN_DEAD, self.policy.tombstone_rebuild_fraction * sp.store.n):
                sp.store.compact()
            sp.pending += len(gone)
            sp.erased = True  # saved at the next flush, whatever the batching: erasure reaches the disk
        self._maybe_rebuild(space)
        return len(gone)

    def search(self, spaces: Sequence[str], queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        return self._search(spaces, queries, k, exact=False)

    def search_exact(self, spaces: Sequence[str], queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        """Exact top-k over the stored vectors, ignoring approximate indexes (recall checks)."""
        return self._search(spaces, queries, k, exact=True)

    def count(self, space: str) -> int:
        sp = self._spaces.get(space)
        return sp.store.alive_count if sp is not None else 0

    def ids(self, space: str) -> np.ndarray:
        with self._lock:
            sp = self._spaces.get(space)
            return sp.store.alive_ids() if sp is not None else np.zeros(0, np.int64)

    def spaces(self) -> list[str]:
        return sorted(s for s, sp in self._spaces.items() if sp.store.alive_count)

    # -- search ------------------------------------------------------------------------------
    def _search(
        self, spaces: Sequence[str], queries: np.ndarray, k: int, exact: bool
    ) -> list[list[ScoredId]]:
        queries = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, np.float32)))
        merged: list[list[ScoredId]] = [[] for _ in range(len(queries))]
        if k <= 0:
            return merged
        # One probe (the service's case) runs on this thread: no OpenMP team to wake.
        with self._lock, omp_threads(1 if len(queries) == 1 else None):
            for space in dict.fromkeys(spaces):
                sp = self._spaces.get(space)
                if sp is None or sp.store.alive_count == 0:
                    continue
                if sp.store.dim != queries.shape[1]:
                    raise InvalidRequest("query dimension differs from the space's", space=space)
                if sp.ann is None or exact:
                    hits = _exact_scan(sp.store, queries, k)
                else:
                    hits = self._ann_search(sp, queries, k)
                for row, (ids, scores) in enumerate(hits):
                    merged[row].extend(ScoredId(int(i), float(s)) for i, s in zip(ids, scores, strict=True))
        return [sorted(h, key=lambda h: (-h.score, h.vector_id))[:k] for h in merged]

    def _ann_search(self, sp: _Space, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        labels = ann_candidates(sp.ann, queries, self.policy.candidates(k), sp.tombstones, self.policy)
        out = []
        for q, row in zip(queries, labels, strict=True):
            ids = row[row >= 0]
            if len(sp.tail):
                ids = np.concatenate([ids, sp.tail])
            rows = sp.store.rows_of(ids)
            ids, rows = ids[rows >= 0], rows[rows >= 0]
            scores = sp.store.vectors_of(rows) @ q  # exact re-scoring
            out.append(_top(ids, scores, k))
        return out

    # -- building ----------------------------------------------------------------------------
    def rebuild(
        self, space: str, kind: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Future:
        """Build the space's index anew (without tombstones) in the background; returns a Future.

        ``kind`` forces ``flat``/``hnsw``/``ivfpq`` and pins it for the space (until the index
        is reopened); by default the pinned kind, else the policy, chooses by size.
        Searches keep using the current index until the new one is swapped in. With
        ``policy.background_build`` off the build runs inline and the Future is already done.
        A build already running for the space is returned instead of starting another.
        ``progress(done, total)`` is called as vectors are added to the new index.
        """
        with self._lock:
            sp = self._spaces.get(space)
            if sp is not None and sp.build is not None:
                return sp.build.future
            future: Future = Future()
            if sp is None or self._closed:
                future.set_result(None)
                return future
            sp.build = _BuildLog(future)
        if self.policy.background_build:
            threading.Thread(target=self._build, args=(space, sp, kind, progress), daemon=True,
                             name=f"fieldid-index-build-{space}").start()
        else:
            self._build(space, sp, kind, progress)
        return future

    def wait_for_builds(self, timeout: float | None = None) -> None:
        """Block until every running build has been swapped in (tests, benchmarks, shutdown)."""
        with self._lock:
            futures = [sp.build.future for sp in self._spaces.values() if sp.build is not None]
        for f in futures:
            f.result(timeout)

    def _build(
        self, space: str, sp: _Space, kind: str | None, progress: Callable[[int, int], None] | None = None
    ) -> None:
        log_ = sp.build
        assert log_ is not None
        try:
            with self._build_slot:
                with self._lock:
                    alive = sp.store.alive_mask()
                    ids = sp.store.ids_by_row()[alive]
                    # A view when nothing is dead: appends and compaction make new arrays, not edits.
                    vectors = sp.store.vectors() if sp.store.dead == 0 else sp.store.vectors()[alive]
                    if kind is not None:
                        sp.pinned = kind
                    kind = kind or sp.pinned or self.policy.kind_for(len(ids))
                new_ann = None
                if kind != "flat" and len(ids):
                    new_ann = build_ann(kind, ids, vectors, self.policy, progress)
                self._swap(space, sp, log_, ids, new_ann)
            log_.future.set_result(None)
        except BaseException as exc:  # noqa: BLE001 - reported through the Future and the log
            log.exception("index build of space %s failed", space)
            with self._lock:
                if sp.build is log_:
                    sp.build = None
            log_.future.set_exception(exc)

    def _swap(
        self, space: str, sp: _Space, log_: _BuildLog, built_ids: np.ndarray, new_ann: faiss.Index | None
    ) -> None:
        with self._lock:
            if sp.build is not log_ or self._spaces.get(space) is not sp:
                return  # restored, closed or replaced meanwhile: the result is stale
            removed = np.unique(np.concatenate(log_.removed)) if log_.removed else np.zeros(0, np.int64)
            tombstones = Tombstones(removed[np.isin(removed, built_ids)])
            if new_ann is not None and len(tombstones):
                erase(new_ann, tombstones.ids)  # removed while the build copied them
                sp.erased = True
            tail = np.zeros(0, np.int64)
            if new_ann is not None and log_.added:
                added = np.concatenate(log_.added)
                rows = sp.store.rows_of(added)
                added, rows = added[rows >= 0], rows[rows >= 0]
                again = np.isin(added, tombstones.ids)
                if (~again).any():
                    new_ann.add_with_ids(sp.store.vectors_of(rows[~again]), added[~again])
                tail = added[again]
            sp.ann, sp.tombstones, sp.tail = new_ann, tombstones, np.sort(tail)
            sp.built_size = len(built_ids)
            sp.build = None
            sp.pending += 1

    def _maybe_rebuild(self, space: str) -> None:
        sp = self._spaces.get(space)
        if sp is None or sp.build is not None or self._closed:
            return
        n, current = sp.store.alive_count, sp.kind
        target = sp.pinned or self.policy.kind_for(n)
        grow = _KIND_RANK[target] > _KIND_RANK[current]
        forced = (sp.pinned is not None or self.policy.kind != "auto") and target != current
        limit = self.policy.tombstone_rebuild_fraction
        stale = sp.ann is not None and len(sp.tombstones) > limit * sp.ann.ntotal
        outgrown = current == "ivfpq" and n > IVF_RETRAIN_GROWTH * max(1, sp.built_size)
        if grow or forced or stale or outgrown:
            self.rebuild(space)

    # -- inspection --------------------------------------------------------------------------
    def stats(self) -> dict[str, dict]:
        """Per space: kind, live vectors, tombstones, tail, whether a build runs, bytes held."""
        with self._lock:
            return {
                space: {
                    "kind": sp.kind,
                    "count": sp.store.alive_count,
                    "tombstones": len(sp.tombstones),
                    "tail": len(sp.tail),
                    "building": sp.build is not None,
                    "store_bytes": sp.store.nbytes(),
                    "ann_bytes": ann_nbytes(sp.ann) if sp.ann is not None else 0,
                }
                for space, sp in self._spaces.items()
            }

    def vectors_view(self, space: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, vectors, alive) by row, as views: read-only access for benchmarks and audits."""
        with self._lock:
            st = self._spaces[space].store
            return st.ids_by_row(), st.vectors(), st.alive_mask()


def _exact_scan(store: RowStore, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact top-k over every live row.

    Small spaces use FAISS's scan, which runs one query on the calling thread (a BLAS product
    would wake a thread pool: ~10 ms lost on a busy machine); large ones a BLAS product, whose
    threads share the memory bandwidth the scan is bound by. Dead rows are zero vectors, so
    asking for ``dead`` extra hits and dropping dead ones stays exact.
    """
    vectors, ids, alive = store.vectors(), store.ids_by_row(), store.alive_mask()
    if len(vectors) >= BLAS_SCAN_FROM:
        return _blas_scan(store, queries, k)
    want = min(len(vectors), k + store.dead)
    _, rows = faiss.knn(queries, vectors, want, metric=faiss.METRIC_INNER_PRODUCT)
    out = []
    for q, found in zip(queries, rows, strict=True):
        found = found[found >= 0]
        found = found[alive[found]]
        out.append(_top(ids[found], vectors[found] @ q, k))
    return out


def _blas_scan(store: RowStore, queries: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    vectors, ids, alive = store.vectors(), store.ids_by_row(), store.alive_mask()
    out = []
    batch = max(1, EXACT_SCORE_BUDGET // max(1, len(vectors)))
    for start in range(0, len(queries), batch):
        scores = queries[start : start + batch] @ vectors.T
        if store.dead:
            scores[:, ~alive] = -np.inf
        out.extend(_top(ids, row, k) for row in scores)
    return out


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (id, score) pairs, best first (ties by id); -inf scores are never chosen."""
    finite = np.isfinite(scores)
    k = min(k, int(finite.sum()))
    if k == 0:
        return ids[:0], scores[:0]
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.isfinite(scores[top])]
    top = top[np.lexsort((ids[top], -scores[top]))]
    return ids[top], scores[top]
