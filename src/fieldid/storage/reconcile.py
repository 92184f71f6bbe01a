"""Bring a vector index in line with the database (the source of truth).

Run at start-up (a snapshot may lag the database, or a crash may have come between a commit
and an index write) and by ``fieldid doctor``. Vectors whose template row does not exist are
orphans and are removed; templates without a vector are re-added from their stored vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fieldid.storage import repo
from fieldid.storage.base import VectorIndex, space_key
from fieldid.storage.sql import SqlStore


@dataclass
class SpaceReport:
    space: str
    db_templates: int
    index_vectors: int
    missing_in_index: int
    orphans_in_index: int


@dataclass
class ReconcileReport:
    spaces: list[SpaceReport] = field(default_factory=list)
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return all(s.missing_in_index == 0 and s.orphans_in_index == 0 for s in self.spaces)

    @property
    def orphan_vectors(self) -> int:
        return sum(s.orphans_in_index for s in self.spaces)

    @property
    def missing_vectors(self) -> int:
        return sum(s.missing_in_index for s in self.spaces)


def reconcile_index(store: SqlStore, index: VectorIndex, *, repair: bool = True) -> ReconcileReport:
    report = ReconcileReport(repaired=repair)
    with store.write_lock, store.read() as session:
        db_spaces = {space_key(g, m): (g, m) for g, m in repo.spaces_in_db(session)}
        for space in sorted(set(db_spaces) | set(index.spaces())):
            if space in db_spaces:
                db_ids = repo.template_ids(session, *db_spaces[space])
            else:
                db_ids = np.zeros(0, np.int64)
            ix_ids = index.ids(space)
            missing = np.setdiff1d(db_ids, ix_ids, assume_unique=True)
            orphans = np.setdiff1d(ix_ids, db_ids, assume_unique=True)
            report.spaces.append(SpaceReport(space, len(db_ids), len(ix_ids), len(missing), len(orphans)))
            if not repair:
                continue
            if len(orphans):
                index.remove(space, orphans)
            for ids, vectors in repo.iter_template_vectors(session, missing):
                index.add(space, ids, vectors)
        if repair:
            index.flush(force=True)
    return report
