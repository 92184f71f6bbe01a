"""The two storage interfaces. Every implementation passes tests/storage/test_contract*.py.

* :class:`VectorIndex` — approximate or exact top-k by inner product over unit vectors,
  partitioned into *spaces* (one per gallery and model: vectors of different models or
  galleries never meet). Filtering by space happens inside the engine.
* The relational store is :class:`fieldid.storage.sql.SqlStore` (SQLite embedded, PostgreSQL
  at scale); its contract is the repository API exercised by ``test_contract_store.py``.

The database is the source of truth; an index is derived data that
:func:`fieldid.storage.reconcile.reconcile_index` can always bring back in line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from fieldid.types import ScoredId


def space_key(gallery_id: str, model_id: str) -> str:
    """The index space of one gallery's templates of one model."""
    return f"{gallery_id}|{model_id}"


class VectorIndex(Protocol):
    """Top-k inner-product search over int64-keyed unit vectors, per space."""

    def add(self, space: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors (n, dim) float32 under unique int64 ids (an existing id is an error)."""
        ...

    def remove(self, space: str, ids: np.ndarray) -> int:
        """Delete ids from a space; returns how many were present."""
        ...

    def search(self, spaces: Sequence[str], queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        """For each query row, the k best hits across the given spaces, best first."""
        ...

    def count(self, space: str) -> int:
        """Vectors in a space (0 for an unknown space)."""
        ...

    def ids(self, space: str) -> np.ndarray:
        """All ids in a space, sorted int64 (consistency checks)."""
        ...

    def spaces(self) -> list[str]:
        """Every non-empty space the index holds."""
        ...

    def flush(self, force: bool = False) -> None:
        """Make changes durable (the index decides how often unless ``force``)."""
        ...
