"""One contract for every VectorIndex implementation (add more to BACKENDS as they land)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fieldid.errors import InvalidRequest
from fieldid.storage.ann_policy import AnnPolicy
from fieldid.storage.base import VectorIndex
from fieldid.storage.faiss_index import FaissIndex
from fieldid.storage.memory_index import MemoryIndex

#: Approximate kinds built inline from the first vector, so the contract runs through them.
TINY_HNSW = AnnPolicy(kind="hnsw", ann_min_vectors=1, background_build=False)
TINY_IVFPQ = AnnPolicy(kind="ivfpq", ann_min_vectors=1, background_build=False, ivf_nprobe=8)


def _memory(tmp: Path) -> tuple[VectorIndex, Callable[[], VectorIndex] | None]:
    return MemoryIndex(), None


def _faiss(tmp: Path) -> tuple[VectorIndex, Callable[[], VectorIndex] | None]:
    return FaissIndex(tmp / "faiss"), lambda: FaissIndex(tmp / "faiss")


def _faiss_with(policy: AnnPolicy) -> Callable[[Path], tuple[VectorIndex, Callable[[], VectorIndex] | None]]:
    def make(tmp: Path) -> tuple[VectorIndex, Callable[[], VectorIndex] | None]:
        return FaissIndex(tmp / "ann", policy=policy), lambda: FaissIndex(tmp / "ann", policy=policy)

    return make


#: One Milvus Lite database file for the whole module (its server takes seconds to start);
#: every test gets collections of its own through a fresh collection prefix.
_MILVUS: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def _milvus_lite_file(tmp_path_factory):
    _MILVUS["uri"] = str(tmp_path_factory.mktemp("milvus") / "contract.db")
    _MILVUS["n"] = 0
    yield
    _MILVUS.clear()


def _milvus_lite(tmp: Path) -> tuple[VectorIndex, Callable[[], VectorIndex] | None]:
    from fieldid.storage.milvus_index import MilvusIndex, MilvusOptions

    _MILVUS["n"] = int(_MILVUS["n"]) + 1
    options = MilvusOptions(collection_prefix=f"t{_MILVUS['n']}", partitions=4)
    uri = str(_MILVUS["uri"])
    return MilvusIndex(uri, options), lambda: MilvusIndex(uri, options)


BACKENDS = {
    "memory": _memory,
    "faiss": _faiss,
    "hnsw": _faiss_with(TINY_HNSW),
    "ivfpq": _faiss_with(TINY_IVFPQ),
    "milvus-lite": _milvus_lite,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    index, reopen = BACKENDS[request.param](tmp_path)
    yield index, reopen
    closer = getattr(index, "close", None)
    if closer:
        closer()


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_returns_exact_top_k_in_order(backend):
    index, _ = backend
    rng = np.random.default_rng(0)
    vectors = unit(rng, 200)
    ids = np.arange(1000, 1200, dtype=np.int64)
    index.add("g1|m", ids, vectors)
    queries = unit(rng, 5)
    results = index.search(["g1|m"], queries, 10)
    exact = queries @ vectors.T
    for q, hits in enumerate(results):
        expected = ids[np.argsort(-exact[q])[:10]]
        assert [h.vector_id for h in hits] == expected.tolist()
        assert hits[0].score == pytest.approx(float(exact[q].max()), abs=1e-5)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_spaces_are_isolated_and_merge(backend):
    index, _ = backend
    rng = np.random.default_rng(1)
    a, b = unit(rng, 30), unit(rng, 30)
    index.add("A|m", np.arange(1, 31), a)
    index.add("B|m", np.arange(101, 131), b)
    only_a = index.search(["A|m"], b[:1], 50)[0]
    assert {h.vector_id for h in only_a} <= set(range(1, 31))
    both = index.search(["A|m", "B|m"], b[:1], 1)[0]
    assert both[0].vector_id == 101 and both[0].score == pytest.approx(1.0, abs=1e-5)
    assert index.search(["nope|m"], b[:1], 5) == [[]]
    assert sorted(index.spaces()) == ["A|m", "B|m"]


def test_remove_count_ids(backend):
    index, _ = backend
    rng = np.random.default_rng(2)
    v = unit(rng, 10)
    index.add("s|m", np.arange(10), v)
    assert index.count("s|m") == 10
    assert index.remove("s|m", np.array([3, 4, 99])) == 2
    assert index.count("s|m") == 8
    assert index.ids("s|m").tolist() == [0, 1, 2, 5, 6, 7, 8, 9]
    hits = index.search(["s|m"], v[3:4], 10)[0]
    assert 3 not in {h.vector_id for h in hits}
    assert index.remove("unknown|m", np.array([1])) == 0
    assert index.count("unknown|m") == 0


def test_duplicate_ids_and_bad_vectors_refused(backend):
    index, _ = backend
    rng = np.random.default_rng(3)
    index.add("s|m", np.array([1, 2]), unit(rng, 2))
    with pytest.raises(InvalidRequest):
        index.add("s|m", np.array([2, 3]), unit(rng, 2))
    with pytest.raises(InvalidRequest):
        index.add("s|m", np.array([5, 5]), unit(rng, 2))
    with pytest.raises(InvalidRequest):
        index.add("s|m", np.array([7]), unit(rng, 1, d=8))
    with pytest.raises(InvalidRequest):
        index.add("s|m", np.array([8, 9]), unit(rng, 1))
    bad = unit(rng, 1)
    bad[0, 0] = np.nan
    with pytest.raises(InvalidRequest):
        index.add("s|m", np.array([10]), bad)
    assert index.ids("s|m").tolist() == [1, 2]  # nothing half-added


def test_k_larger_than_space_and_zero(backend):
    index, _ = backend
    rng = np.random.default_rng(4)
    index.add("s|m", np.arange(3), unit(rng, 3))
    assert len(index.search(["s|m"], unit(rng, 1), 100)[0]) == 3
    assert index.search(["s|m"], unit(rng, 2), 0) == [[], []]


def test_persistence_round_trip(backend):
    index, reopen = backend
    if reopen is None:
        pytest.skip("in-memory backend has nothing to persist")
    rng = np.random.default_rng(5)
    v = unit(rng, 50)
    index.add("s|m", np.arange(50), v)
    index.remove("s|m", np.array([7]))
    index.flush(force=True)
    again = reopen()
    assert again.ids("s|m").tolist() == [i for i in range(50) if i != 7]
    assert again.search(["s|m"], v[:1], 1)[0][0].vector_id == 0
