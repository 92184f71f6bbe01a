"""Milvus specifics beyond the contract, on one Milvus Lite file shared by the module."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fieldid.errors import InvalidRequest
from fieldid.storage.milvus_index import MilvusIndex, MilvusOptions

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def lite_uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "lite.db")


def open_index(uri: str, **options) -> MilvusIndex:
    return MilvusIndex(uri, MilvusOptions(collection_prefix=f"m{next(_prefixes)}", partitions=4, **options))


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_space_filter_is_inside_the_search(lite_uri):
    """A space's k best come back even when another space holds closer vectors."""
    index = open_index(lite_uri)
    rng = np.random.default_rng(0)
    probe = unit(rng, 1)
    near = np.repeat(probe, 50, axis=0) + 0.001 * rng.normal(size=(50, 8)).astype(np.float32)
    index.add("crowd|m", np.arange(1000, 1050), near / np.linalg.norm(near, axis=1, keepdims=True))
    index.add("small|m", np.arange(5), unit(rng, 5))
    hits = index.search(["small|m"], probe, 5)[0]
    assert sorted(h.vector_id for h in hits) == [0, 1, 2, 3, 4]  # a post-filter would find none
    index.close()


def test_ids_are_unique_across_spaces_of_a_dimension(lite_uri):
    index = open_index(lite_uri)
    rng = np.random.default_rng(1)
    index.add("a|m", np.array([1, 2]), unit(rng, 2))
    with pytest.raises(InvalidRequest):
        index.add("b|m", np.array([2]), unit(rng, 1))
    assert index.remove("b|m", np.array([1, 2])) == 0  # not b's to remove
    assert index.ids("a|m").tolist() == [1, 2]
    index.close()


def test_quantised_index_scores_are_re_scored_exactly(lite_uri):
    index = open_index(lite_uri, index_type="HNSW_SQ")
    rng = np.random.default_rng(2)
    vectors = unit(rng, 300, d=16)
    index.add("q|m", np.arange(300), vectors)
    queries = unit(rng, 3, d=16)
    for q, hits in zip(queries, index.search(["q|m"], queries, 10), strict=True):
        exact = vectors[[h.vector_id for h in hits]] @ q
        assert [h.score for h in hits] == pytest.approx(exact.tolist(), abs=1e-6)
        assert [h.vector_id for h in hits] == np.argsort(-(vectors @ q))[:10].tolist()
    index.close()


def test_spaces_and_dimensions_survive_reopening(lite_uri):
    options = MilvusOptions(collection_prefix="reopen", partitions=4)
    index = MilvusIndex(lite_uri, options)
    rng = np.random.default_rng(3)
    index.add("d8|m", np.arange(3), unit(rng, 3))
    index.add("d16|m", np.arange(10, 13), unit(rng, 3, d=16))
    index.flush(force=True)
    assert index.wait_for_index(timeout=60)
    index.close()
    again = MilvusIndex(lite_uri, options)
    assert again.spaces() == ["d16|m", "d8|m"]
    assert again.count("d16|m") == 3
    with pytest.raises(InvalidRequest):
        again.add("d8|m", np.array([99]), unit(rng, 1, d=16))
    hits = again.search(["d16|m", "missing|m"], unit(rng, 1, d=16), 5)[0]
    assert {h.vector_id for h in hits} == {10, 11, 12}
    with pytest.raises(InvalidRequest):  # as in every backend: a query of another dimension
        again.search(["d8|m", "d16|m"], unit(rng, 1, d=16), 5)
    again.close()
