"""Milvus vector index: Milvus Lite (a local ``.db`` file; tests, CI, one machine) or a cluster URI.

Layout: one collection per vector dimension (``<prefix>_d<dim>``) with fields ``id`` (INT64
primary key: the template id), ``space`` (VARCHAR, the *partition key*) and ``vector``. Milvus
hashes the space into ``partitions`` physical partitions, and a search carries the filter
``space in [...]``, so the engine prunes partitions and filters inside the search — never
after it. A small registry collection (``<prefix>_spaces``) records each space's dimension.

Because the primary key is the template id, an id is unique across all spaces of one
dimension (FieldID's template ids are globally unique; adding an id present in another space
is refused like any duplicate). Quantised index types (``HNSW_SQ``, ``IVF_SQ8``) return
``k × rescore_factor`` candidates with their stored float32 vectors, re-scored exactly here.

Milvus persists by itself; :meth:`MilvusIndex.flush` with ``force`` seals the growing segments.
Backups of a cluster are Milvus's own (milvus-backup), and the database stays the truth:
:func:`fieldid.storage.reconcile.reconcile_index` repairs any difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fieldid.errors import InvalidRequest, StorageError
from fieldid.storage.memory_index import _check
from fieldid.types import ScoredId

if TYPE_CHECKING:
    from fieldid.config import Settings

#: Milvus refuses larger top-k.
MAX_LIMIT = 16_384
#: Ids per ``id in [...]`` filter expression, and rows per insert call.
ID_BATCH = 1000
INSERT_BATCH = 5000
SPACE_MAX_LENGTH = 512
_QUANTISED = {"HNSW_SQ", "IVF_SQ8"}


@dataclass(frozen=True)
class MilvusOptions:
    index_type: str = "HNSW"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 1024
    ivf_nlist: int = 1024
    ivf_nprobe: int = 128
    rescore_factor: int = 30
    collection_prefix: str = "fieldid"
    partitions: int = 64
    consistency: str = "Strong"

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusOptions:
        return cls(
            index_type=settings.milvus_index_type,
            hnsw_m=settings.index_hnsw_m,
            hnsw_ef_construction=settings.index_hnsw_ef_construction,
            hnsw_ef_search=settings.index_hnsw_ef_search,
            ivf_nlist=settings.index_ivf_nlist or 1024,
            ivf_nprobe=settings.index_ivf_nprobe,
            rescore_factor=settings.index_rescore_factor,
            collection_prefix=settings.milvus_collection_prefix,
            partitions=settings.milvus_partitions,
            consistency=settings.milvus_consistency,
        )

    def index_params(self) -> dict:
        if self.index_type.startswith("HNSW"):
            params = {"M": self.hnsw_m, "efConstruction": self.hnsw_ef_construction}
            return params | ({"sq_type": "SQ8"} if self.index_type == "HNSW_SQ" else {})
        if self.index_type.startswith("IVF"):
            return {"nlist": self.ivf_nlist}
        return {}

    def search_params(self, limit: int) -> dict:
        if self.index_type.startswith("HNSW"):
            return {"ef": max(self.hnsw_ef_search, limit)}
        if self.index_type.startswith("IVF"):
            return {"nprobe": min(self.ivf_nprobe, self.ivf_nlist)}
        return {}


class MilvusIndex:
    def __init__(self, uri: str, options: MilvusOptions | None = None, *, token: str = "") -> None:
        from pymilvus import MilvusClient

        self.options = options or MilvusOptions()
        try:
            self._client = MilvusClient(uri=uri, token=token)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds; one stable error out
            raise StorageError(f"Milvus at {uri} is unreachable: {exc}") from exc
        self._registry = f"{self.options.collection_prefix}_spaces"
        self._ensure_registry()
        rows = self._client.query(self._registry, filter='space != ""', output_fields=["space", "dim"])
        self._dims: dict[str, int] = {r["space"]: int(r["dim"]) for r in rows}

    # -- collections -------------------------------------------------------------------------
    def _collection(self, dim: int) -> str:
        return f"{self.options.collection_prefix}_d{dim}"

    def _ensure_registry(self) -> None:
        from pymilvus import DataType

        if self._client.has_collection(self._registry):
            return
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("space", DataType.VARCHAR, is_primary=True, max_length=SPACE_MAX_LENGTH)
        schema.add_field("dim", DataType.INT64)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
        index = self._client.prepare_index_params()
        index.add_index(field_name="unused", index_type="BRUTE_FORCE", metric_type="IP")
        self._client.create_collection(self._registry, schema=schema, index_params=index,
                                       consistency_level="Strong")

    def _ensure_collection(self, dim: int) -> str:
        from pymilvus import DataType

        name = self._collection(dim)
        if self._client.has_collection(name):
            return name
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("space", DataType.VARCHAR, max_length=SPACE_MAX_LENGTH, is_partition_key=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", index_type=self.options.index_type, metric_type="IP",
                        params=self.options.index_params())
        self._client.create_collection(name, schema=schema, index_params=index,
                                       num_partitions=self.options.partitions,
                                       consistency_level=self.options.consistency)
        return name

    def _register(self, space: str, dim: int) -> None:
        if self._dims.get(space) == dim:
            return
        self._client.upsert(self._registry, [{"space": space, "dim": dim, "unused": [0.0, 0.0]}])
        self._dims[space] = dim

    # -- VectorIndex -------------------------------------------------------------------------
    def add(self, space: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, vectors = _check(ids, vectors)
        if len(ids) == 0:
            return
        if len(space) > SPACE_MAX_LENGTH:
            raise InvalidRequest("space name too long", space=space)
        dim = vectors.shape[1]
        if self._dims.get(space, dim) != dim:
            raise InvalidRequest("vector dimension differs from the space's", space=space)
        if len(np.unique(ids)) != len(ids):
            raise InvalidRequest("vector id already present", space=space)
        name = self._ensure_collection(dim)
        if self._present(name, ids):
            raise InvalidRequest("vector id already present", space=space)
        self._register(space, dim)
        for start in range(0, len(ids), INSERT_BATCH):
            rows = [
                {"id": int(i), "space": space, "vector": v}
                for i, v in zip(ids[start : start + INSERT_BATCH], vectors[start : start + INSERT_BATCH],
                                strict=True)
            ]
            self._client.insert(name, rows)

    def remove(self, space: str, ids: np.ndarray) -> int:
        dim = self._dims.get(space)
        if dim is None:
            return 0
        name = self._collection(dim)
        present = self._present(name, np.unique(np.asarray(ids, np.int64)), space)
        for start in range(0, len(present), ID_BATCH):
            self._client.delete(name, ids=present[start : start + ID_BATCH])
        return len(present)

    def search(self, spaces: Sequence[str], queries: np.ndarray, k: int) -> list[list[ScoredId]]:
        queries = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, np.float32)))
        merged: list[list[ScoredId]] = [[] for _ in range(len(queries))]
        if k <= 0:
            return merged
        by_dim: dict[int, list[str]] = {}
        for space in dict.fromkeys(spaces):
            if space in self._dims:
                by_dim.setdefault(self._dims[space], []).append(space)
        quantised = self.options.index_type in _QUANTISED
        limit = min(MAX_LIMIT, k * self.options.rescore_factor if quantised else k)
        for dim, named in by_dim.items():
            if dim != queries.shape[1]:
                raise InvalidRequest("query dimension differs from the space's", space=named[0])
            results = self._client.search(
                self._collection(dim),
                data=list(queries),
                limit=limit,
                filter=f"space in {json.dumps(named)}",
                output_fields=["vector"] if quantised else [],
                search_params={"metric_type": "IP", "params": self.options.search_params(limit)},
            )
            for row, hits in enumerate(results):
                for hit in hits:
                    score = hit["distance"]
                    if quantised:  # the engine's score is approximate: re-score exactly
                        score = float(np.dot(np.asarray(hit["entity"]["vector"], np.float32), queries[row]))
                    merged[row].append(ScoredId(int(hit["id"]), float(score)))
        return [sorted(h, key=lambda h: (-h.score, h.vector_id))[:k] for h in merged]

    def count(self, space: str) -> int:
        dim = self._dims.get(space)
        if dim is None:
            return 0
        rows = self._client.query(self._collection(dim), filter=f"space == {json.dumps(space)}",
                                  output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self, space: str) -> np.ndarray:
        dim = self._dims.get(space)
        if dim is None:
            return np.zeros(0, np.int64)
        found = list(self._iter_ids(self._collection(dim), f"space == {json.dumps(space)}"))
        return np.sort(np.array(found, np.int64))

    def spaces(self) -> list[str]:
        return sorted(s for s in self._dims if self.count(s))

    def flush(self, force: bool = False) -> None:
        if not force:
            return  # Milvus makes each write durable in its log; sealing segments often hurts
        for dim in set(self._dims.values()):
            self._client.flush(self._collection(dim))

    def close(self) -> None:
        self._client.close()

    def wait_for_index(self, timeout: float = 600.0, poll: float = 0.5) -> bool:
        """Wait until Milvus has indexed every sealed row (after a bulk load; searches work
        meanwhile, scanning unindexed segments exactly). Returns False on timeout."""
        import time

        deadline = time.monotonic() + timeout
        for dim in set(self._dims.values()):
            name = self._collection(dim)
            while True:
                info = self._client.describe_index(name, index_name="vector")
                if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) >= int(
                    info.get("total_rows", 0)
                ):
                    break
                if time.monotonic() > deadline:
                    return False
                time.sleep(poll)
        return True

    # -- helpers -----------------------------------------------------------------------------
    def _present(self, name: str, ids: np.ndarray, space: str | None = None) -> list[int]:
        """Which of ``ids`` the collection holds (in ``space`` when given)."""
        found: list[int] = []
        scope = f" and space == {json.dumps(space)}" if space is not None else ""
        for start in range(0, len(ids), ID_BATCH):
            chunk = [int(i) for i in ids[start : start + ID_BATCH]]
            rows = self._client.query(name, filter=f"id in {chunk}{scope}", output_fields=["id"])
            found.extend(int(r["id"]) for r in rows)
        return found

    def _iter_ids(self, name: str, expr: str) -> Iterator[int]:
        iterator = self._client.query_iterator(name, batch_size=10_000, filter=expr, output_fields=["id"])
        try:
            while batch := iterator.next():
                yield from (int(r["id"]) for r in batch)
        finally:
            iterator.close()
