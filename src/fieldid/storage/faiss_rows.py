"""The float32 vectors of one space, by id: the truth an approximate index is built from.

Rows are appended; a removal marks its row dead and wipes the vector (a deleted person's
template does not linger in memory), and :meth:`RowStore.compact` drops dead rows when they
pile up. Lookup by id uses a sorted copy of the ids plus a small dict of recent additions,
about 16 bytes per vector instead of a Python dict's ~100.
"""

from __future__ import annotations

import numpy as np

#: Recent additions are merged into the sorted lookup when they exceed this share of it.
MERGE_FRACTION = 1 / 16
MERGE_MIN = 4096


class RowStore:
    def __init__(self, dim: int, ids: np.ndarray | None = None, vectors: np.ndarray | None = None) -> None:
        self.dim = dim
        n = 0 if ids is None else len(ids)
        self._ids = np.zeros(max(n, 16), np.int64)
        self._vectors = np.zeros((max(n, 16), dim), np.float32)
        self._alive = np.zeros(max(n, 16), bool)
        self.n = 0  # rows used, dead ones included
        self.dead = 0
        self._sorted_ids = np.zeros(0, np.int64)
        self._sorted_rows = np.zeros(0, np.int64)
        self._recent: dict[int, int] = {}
        if n:
            self.append(ids, vectors)
            self._merge()

    # -- reading ---------------------------------------------------------------------------
    @property
    def alive_count(self) -> int:
        return self.n - self.dead

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, or -1 when absent or removed."""
        ids = np.asarray(ids, np.int64)
        rows = np.full(len(ids), -1, np.int64)
        if len(self._sorted_ids):
            pos = np.searchsorted(self._sorted_ids, ids).clip(max=len(self._sorted_ids) - 1)
            hit = self._sorted_ids[pos] == ids
            rows[hit] = self._sorted_rows[pos[hit]]
        found = rows >= 0
        rows[found] = np.where(self._alive[rows[found]], rows[found], -1)
        if self._recent:  # holds alive rows only; an id removed then re-added lives here
            for j in np.flatnonzero(rows < 0):
                rows[j] = self._recent.get(int(ids[j]), -1)
        return rows

    def vectors(self) -> np.ndarray:
        """A view of every row's vector (dead rows are zero): for scans and builds."""
        return self._vectors[: self.n]

    def ids_by_row(self) -> np.ndarray:
        return self._ids[: self.n]

    def alive_mask(self) -> np.ndarray:
        return self._alive[: self.n]

    def alive_ids(self) -> np.ndarray:
        return np.sort(self._ids[: self.n][self._alive[: self.n]])

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        return self._vectors[rows]

    def nbytes(self) -> int:
        """Memory held, spare capacity included."""
        return int(
            self._ids.nbytes + self._vectors.nbytes + self._alive.nbytes
            + self._sorted_ids.nbytes + self._sorted_rows.nbytes + 100 * len(self._recent)
        )

    # -- writing ---------------------------------------------------------------------------
    def append(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows (the caller has checked the ids are new and the dimension right)."""
        m = len(ids)
        self._reserve(self.n + m)
        self._ids[self.n : self.n + m] = ids
        self._vectors[self.n : self.n + m] = vectors
        self._alive[self.n : self.n + m] = True
        self._recent.update(zip(ids.tolist(), range(self.n, self.n + m), strict=True))
        self.n += m
        if len(self._recent) > max(MERGE_MIN, MERGE_FRACTION * len(self._sorted_ids)):
            self._merge()

    def kill(self, rows: np.ndarray) -> None:
        """Mark rows dead (rows from :meth:`rows_of`, alive and distinct)."""
        self._alive[rows] = False
        self._vectors[rows] = 0.0
        self.dead += len(rows)
        for i in self._ids[rows].tolist():
            self._recent.pop(i, None)

    def compact(self) -> None:
        """Drop dead rows (renumbers rows: callers must not hold row numbers across it)."""
        keep = self._alive[: self.n]
        ids, vectors = self._ids[: self.n][keep], self._vectors[: self.n][keep]
        self.__init__(self.dim, ids, vectors)  # type: ignore[misc]

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows at once (bulk loads)."""
        self._reserve(capacity, exact=True)

    def _reserve(self, needed: int, exact: bool = False) -> None:
        if needed <= len(self._ids):
            return
        cap = needed if exact else max(needed, int(len(self._ids) * 1.5))
        # New arrays rather than in-place resize: a background build may still read the old ones.
        for name in ("_ids", "_vectors", "_alive"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def _merge(self) -> None:
        rows = np.flatnonzero(self._alive[: self.n])
        ids = self._ids[rows]
        order = np.argsort(ids)
        self._sorted_ids, self._sorted_rows = ids[order], rows[order].astype(np.int64)
        self._recent = {}
