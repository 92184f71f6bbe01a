"""Exact in-memory index over numpy arrays: the test fake and the brute-force baseline.

This is what a face_recognition user does (``face_distance`` over every known encoding),
kept as the reference that approximate indexes are measured against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fieldid.errors import InvalidRequest
from fieldid.types import ScoredId


class MemoryIndex:
    def __init__(self) -> None:
        self._ids: dict[str, np.ndarray] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def add(self, space: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = _check(ids, vectors)
        if len(ids) == 0:
            return
        old_ids = self._ids.get(space, np.zeros(0, np.int64))
        if np.intersect1d(old_ids, ids).size or len(np.unique(ids)) != len(ids):
            raise InvalidRequest("vector id already present", space=space)
        old_vectors = self._vectors.get(space, np.zeros((0, vectors.shape[1]), np.float32))
        if old_vectors.shape[1] != vectors.shape[1]:
            raise InvalidRequest("vector dimension differs from the space's", space=space)
        self._ids[space] = np.concatenate([old_ids, ids])
        self._vectors[space] = np.concatenate([old_vectors, vectors])

    def remove(self, space: str, ids: np.ndarray) -> int:
        if space not in self._ids:
            return 0
        keep = ~np.isin(self._ids[space], np.asarray(ids, np.int64))
        removed = int((~keep).sum())
        self._ids[space], self._vectors[space] = self._ids[space][keep], self._vectors[space][keep]
        return removed

    def search(self, spaces: Sequence[str], queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        present = [s for s in spaces if self.count(s)]
        if not present or k <= 0:
            return [[] for _ in range(len(queries))]
        ids = np.concatenate([self._ids[s] for s in present])
        scores = queries @ np.concatenate([self._vectors[s] for s in present]).T
        k = min(k, len(ids))
        out = []
        for row in scores:
            top = np.argpartition(-row, k - 1)[:k]
            top = top[np.lexsort((ids[top], -row[top]))]
            out.append([ScoredId(int(ids[i]), float(row[i])) for i in top])
        return out

    def count(self, space: str) -> int:
        return int(len(self._ids.get(space, ())))

    def ids(self, space: str) -> np.ndarray:
        return np.sort(self._ids.get(space, np.zeros(0, np.int64)))

    def spaces(self) -> list[str]:
        return sorted(s for s, ids in self._ids.items() if len(ids))

    def flush(self, force: bool = False) -> None:
        return None


def _check(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    vectors = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if len(ids) != len(vectors):
        raise InvalidRequest(f"{len(ids)} ids for {len(vectors)} vectors")
    if not np.isfinite(vectors).all():
        raise InvalidRequest("vectors contain NaN or infinity")
    return ids, vectors
