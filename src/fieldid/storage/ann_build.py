"""Build an approximate FAISS index over (ids, vectors) and ask it for candidates.

The index is keyed by the template ids themselves (``add_with_ids``), so it stays valid when
the row store is compacted. Deletions are tombstones: an ``IDSelectorNot(IDSelectorBatch)``
passed with the search keeps removed ids out of the results (``IndexHNSW`` cannot
``remove_ids``), until the space's index is rebuilt without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import faiss
import numpy as np

from fieldid.storage.ann_policy import AnnPolicy

#: Vectors added per call while building, so progress can be reported and memory stays flat.
ADD_BATCH = 65_536
#: Builds of fewer vectors run on one thread: OpenMP's start-up and barriers cost more than
#: they save there (seconds, on a machine whose cores are busy).
PARALLEL_BUILD_FROM = 50_000


@contextmanager
def omp_threads(n: int | None) -> Iterator[None]:
    """Run FAISS with ``n`` OpenMP threads on this thread only (None: leave as is)."""
    if n is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build_ann(
    kind: str,
    ids: np.ndarray,
    vectors: np.ndarray,
    policy: AnnPolicy,
    progress: Callable[[int, int], None] | None = None,
) -> faiss.Index:
    """A new ``hnsw`` or ``ivfpq`` index holding ``vectors`` under ``ids``."""
    with omp_threads(1 if len(vectors) < PARALLEL_BUILD_FROM else None):
        return _build(kind, ids, vectors, policy, progress)


def _build(
    kind: str, ids: np.ndarray, vectors: np.ndarray, policy: AnnPolicy,
    progress: Callable[[int, int], None] | None,
) -> faiss.Index:
    n, dim = vectors.shape
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, policy.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = policy.hnsw_ef_construction
        index = faiss.IndexIDMap(graph)
    elif kind == "ivfpq":
        nlist = policy.nlist_for(n)
        m, nbits = policy.pq_shape(dim, n)
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # tiny spaces: train anyway, quietly
        index.pq.cp.min_points_per_centroid = 1
        sample = _sample(vectors, max(policy.train_sample, 64 * nlist, 2**nbits))
        index.train(sample)
    else:
        raise ValueError(f"not an approximate index kind: {kind}")
    for start in range(0, n, ADD_BATCH):
        stop = min(n, start + ADD_BATCH)
        index.add_with_ids(np.ascontiguousarray(vectors[start:stop]), ids[start:stop])
        if progress:
            progress(stop, n)
    return index


def erase(index: faiss.Index, ids: np.ndarray) -> None:
    """Remove the data of ``ids`` from an approximate index, not only hide it: IVF lists drop
    their codes (``remove_ids``); an HNSW graph cannot drop nodes, so their stored vectors are
    overwritten with zeros (the nodes stay as waypoints, tombstoned out of every result). A
    deleted person's template must not survive in memory or in the saved index file."""
    ids = np.asarray(ids, np.int64)
    if not len(ids):
        return
    inner = _inner(index)
    if isinstance(inner, faiss.IndexIVF):
        inner.remove_ids(faiss.IDSelectorBatch(ids))
        return
    storage = faiss.downcast_index(inner.storage)
    labels = faiss.rev_swig_ptr(index.id_map.data(), index.id_map.size())  # views, no copies
    positions = np.flatnonzero(np.isin(labels, ids))
    if len(positions):
        codes = faiss.rev_swig_ptr(storage.codes.data(), storage.codes.size()).reshape(storage.ntotal, -1)
        codes[positions] = 0


def ann_kind(index: faiss.Index) -> str:
    return "ivfpq" if isinstance(_inner(index), faiss.IndexIVF) else "hnsw"


class Tombstones:
    """Ids still inside an approximate index but removed from the space."""

    def __init__(self, ids: np.ndarray | None = None) -> None:
        self.ids = np.zeros(0, np.int64) if ids is None else np.unique(np.asarray(ids, np.int64))
        self._selector: tuple[faiss.IDSelector, faiss.IDSelector] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: np.ndarray) -> None:
        self.ids = np.union1d(self.ids, np.asarray(ids, np.int64))
        self._selector = None

    def selector(self) -> faiss.IDSelector | None:
        """Excludes the tombstones; built once per change (a hash set plus a Bloom filter)."""
        if not len(self.ids):
            return None
        if self._selector is None:
            batch = faiss.IDSelectorBatch(self.ids)
            self._selector = (faiss.IDSelectorNot(batch), batch)  # the pair keeps `batch` alive
        return self._selector[0]


def ann_candidates(
    index: faiss.Index, queries: np.ndarray, k: int, tombstones: Tombstones, policy: AnnPolicy
) -> np.ndarray:
    """Candidate ids (n_queries, k), -1 padded, tombstoned ids excluded inside the search."""
    k = min(k, max(1, index.ntotal))
    selector = tombstones.selector()
    if isinstance(_inner(index), faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(efSearch=max(policy.hnsw_ef_search, k))
    else:
        params = faiss.SearchParametersIVF(nprobe=min(policy.ivf_nprobe, faiss.downcast_index(index).nlist))
    if selector is not None:
        params.sel = selector
    _, labels = index.search(queries, k, params=params)
    return labels


def ann_nbytes(index: faiss.Index) -> int:
    """Serialised size of the index: a close measure of the memory it holds."""
    return int(faiss.serialize_index(index).nbytes) if index.ntotal < 100_000 else _estimate(index)


def _estimate(index: faiss.Index) -> int:
    # Serialising a very large index just to measure it would double its memory for a moment.
    inner = _inner(index)
    if isinstance(inner, faiss.IndexIVFPQ):
        return int(index.ntotal * (inner.code_size + 8) + inner.nlist * inner.d * 4)
    per = inner.d * 4 + inner.hnsw.nb_neighbors(0) * 4 + 8 + 8  # vector, level-0 links, level, id
    return int(index.ntotal * per)


def _sample(vectors: np.ndarray, size: int) -> np.ndarray:
    if len(vectors) <= size:
        return np.ascontiguousarray(vectors)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size, replace=False))
    return np.ascontiguousarray(vectors[rows])


def _inner(index: faiss.Index) -> faiss.Index:
    """The index under an id map (HNSW), or the index itself (IVF keeps ids natively)."""
    index = faiss.downcast_index(index)
    return faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
