"""Template rows and their vectors, kept together.

The database is the source of truth; the vector index is derived from it. Vectors are added in
the transaction that writes their rows and taken out again if it fails (no orphan vectors, no
rows without vectors), removed after the rows' deletion commits (a failure then leaves only
orphans, which searches ignore and :meth:`TemplateIndex.reconcile` removes), and brought back in
line with the database at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from fieldid.context import Context
from fieldid.governance.audit import Event, EventType
from fieldid.storage import repo
from fieldid.storage.base import VectorIndex, space_key
from fieldid.storage.reconcile import ReconcileReport, reconcile_index
from fieldid.storage.tables import Template
from fieldid.types import ScoredId

log = logging.getLogger("fieldid.service")

#: Adds the vectors of template rows (flushed, so they have ids) of one gallery to the index.
AddVectors = Callable[[str, Sequence[Template]], None]


class TemplateIndex:
    def __init__(self, ctx: Context, index: VectorIndex) -> None:
        self.ctx = ctx
        self.index = index

    @contextmanager
    def adding(self) -> Iterator[AddVectors]:
        """Around a write transaction: vectors added through the yielded function are removed
        again if the block raises (the rows roll back with it), and made durable if it ends."""
        added: list[tuple[str, np.ndarray]] = []

        def add(gallery_id: str, templates: Sequence[Template]) -> None:
            by_space: dict[str, list[Template]] = {}
            for t in templates:
                by_space.setdefault(space_key(gallery_id, t.model_id), []).append(t)
            for space, rows in by_space.items():
                ids = np.array([t.id for t in rows], np.int64)
                self.index.add(space, ids, np.stack([repo.vector_from_bytes(t.vector) for t in rows]))
                added.append((space, ids))

        try:
            yield add
        except BaseException:
            for space, ids in added:
                self.index.remove(space, ids)
            raise
        self.index.flush()

    def remove(self, templates: Iterable[tuple[int, str, str]]) -> None:
        """Take the vectors of deleted template rows ((id, gallery id, model id)) out."""
        by_space: dict[str, list[int]] = {}
        for tid, gid, mid in templates:
            by_space.setdefault(space_key(gid, mid), []).append(tid)
        for space, ids in by_space.items():
            self.index.remove(space, np.array(ids, np.int64))
        self.index.flush()

    def search(self, spaces: Sequence[str], vector: np.ndarray, k: int) -> list[ScoredId]:
        """The index's (approximate) top ``k`` of one vector across ``spaces``."""
        return self.index.search(spaces, np.asarray(vector, np.float32)[None, :], k)[0]

    def reconcile(self, repair: bool = True) -> ReconcileReport:
        """Compare the index with the database; with ``repair``, fix it and audit the repair."""
        report = reconcile_index(self.ctx.store, self.index, repair=repair)
        if repair and not report.consistent:
            log.warning("index repaired from the database: %d missing vectors added, %d orphans removed",
                        report.missing_vectors, report.orphan_vectors)
            with self.ctx.store.write() as s:
                self.ctx.audit(s, Event(EventType.ADMIN, "system", "system", details={
                    "action": "index.reconcile", "missing_vectors_added": report.missing_vectors,
                    "orphan_vectors_removed": report.orphan_vectors}))
        return report

    def close(self) -> None:
        self.index.flush(force=True)
        closer = getattr(self.index, "close", None)
        if closer:
            closer()
