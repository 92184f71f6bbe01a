"""FAISS approximate spaces: tombstones, background rebuilds, snapshots, auto selection, files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from fieldid.config import Settings
from fieldid.storage import faiss_index as faiss_index_module
from fieldid.storage.ann_policy import AnnPolicy
from fieldid.storage.factory import make_index
from fieldid.storage.faiss_index import FaissIndex

DIM = 16
S = "g|m"


def unit(rng: np.random.Generator, n: int, d: int = DIM) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_ids(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return ids[np.argsort(-(vectors @ query))[:k]].tolist()


def inline(kind: str, **kw) -> AnnPolicy:
    return AnnPolicy(kind=kind, ann_min_vectors=1, background_build=False, **kw)


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_tombstones_keep_remove_ids_count_exact(tmp_path, kind):
    rng = np.random.default_rng(0)
    vectors = unit(rng, 400)
    index = FaissIndex(tmp_path, policy=inline(kind, tombstone_rebuild_fraction=0.5))
    index.add(S, np.arange(400), vectors)
    assert index.stats()[S]["kind"] == kind
    assert index.remove(S, np.array([5, 6, 7, 5000])) == 3
    assert index.remove(S, np.array([5])) == 0  # already gone
    assert index.stats()[S]["tombstones"] == 3  # still in the graph, filtered inside the search
    assert index.count(S) == 397 and 5 not in index.ids(S)
    for q in (5, 6, 7):
        assert q not in {h.vector_id for h in index.search([S], vectors[q : q + 1], 20)[0]}
    # An id removed and added again with a new vector is found (through the tail), once.
    fresh = unit(rng, 1)
    index.add(S, np.array([5]), fresh)
    hits = index.search([S], fresh, 5)[0]
    assert hits[0].vector_id == 5 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.vector_id for h in hits].count(5) == 1
    index.rebuild(S).result()
    stats = index.stats()[S]
    assert (stats["kind"], stats["count"], stats["tombstones"], stats["tail"]) == (kind, 398, 0, 0)
    assert index.search([S], fresh, 1)[0][0].vector_id == 5


def test_tombstones_trigger_a_rebuild(tmp_path):
    rng = np.random.default_rng(1)
    index = FaissIndex(tmp_path, policy=inline("hnsw", tombstone_rebuild_fraction=0.1))
    index.add(S, np.arange(100), unit(rng, 100))
    index.remove(S, np.arange(5))
    assert index.stats()[S]["tombstones"] == 5
    index.remove(S, np.arange(5, 12))  # 12 > 10 % of 100: rebuilt without them
    assert index.stats()[S]["tombstones"] == 0 and index.count(S) == 88


def test_results_are_sorted_by_exact_score(tmp_path):
    rng = np.random.default_rng(2)
    vectors = unit(rng, 1000)
    index = FaissIndex(tmp_path, policy=inline("ivfpq", ivf_nprobe=4))  # coarse codes, exact scores
    index.add(S, np.arange(1000), vectors)
    queries = unit(rng, 10)
    for q, hits in zip(queries, index.search([S], queries, 10), strict=True):
        exact = vectors[[h.vector_id for h in hits]] @ q
        assert [h.score for h in hits] == pytest.approx(exact.tolist(), abs=1e-6)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_rebuild_in_background_does_not_block_searches_and_replays_changes(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    vectors = unit(rng, 600)
    index = FaissIndex(tmp_path, policy=AnnPolicy(kind="hnsw", ann_min_vectors=1))
    started, release = threading.Event(), threading.Event()
    real_build = faiss_index_module.build_ann

    def slow_build(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(faiss_index_module, "build_ann", slow_build)
    index.add(S, np.arange(500), vectors[:500])  # starts the first build (flat → hnsw)
    assert started.wait(10)
    assert index.stats()[S]["building"]
    # While the build is held: searches answer (exactly, from the stored vectors), writes work.
    hits = index.search([S], vectors[:1], 10)[0]
    assert [h.vector_id for h in hits] == exact_ids(np.arange(500), vectors[:500], vectors[0], 10)
    index.add(S, np.arange(500, 600), vectors[500:])
    index.remove(S, np.array([0, 1, 550]))
    assert index.rebuild(S) is index.rebuild(S)  # one build per space at a time
    release.set()
    index.wait_for_builds(timeout=60)
    stats = index.stats()[S]
    assert stats["kind"] == "hnsw" and not stats["building"]
    assert stats["tombstones"] == 2  # 0 and 1 were in the snapshot; 550 was added after it
    live = np.setdiff1d(np.arange(600), [0, 1, 550])
    assert index.ids(S).tolist() == live.tolist()
    for q in (0, 1, 550, 599):
        hits = index.search([S], vectors[q : q + 1], 10)[0]
        assert [h.vector_id for h in hits] == exact_ids(live, vectors[live], vectors[q], 10)


def test_snapshot_and_restore(tmp_path):
    rng = np.random.default_rng(4)
    vectors = unit(rng, 300)
    index = FaissIndex(tmp_path / "live", policy=inline("hnsw"))
    index.add(S, np.arange(300), vectors)
    index.add("other|m", np.arange(10), unit(rng, 10))
    index.remove(S, np.array([3]))
    index.snapshot(tmp_path / "snap")
    index.remove(S, np.arange(100, 200))
    index.add("late|m", np.arange(5), unit(rng, 5))
    index.restore(tmp_path / "snap")
    expected = [i for i in range(300) if i != 3]
    assert index.ids(S).tolist() == expected
    assert index.spaces() == ["g|m", "other|m"]
    assert index.stats()[S]["kind"] == "hnsw" and index.stats()[S]["tombstones"] == 1
    assert index.search([S], vectors[150:151], 1)[0][0].vector_id == 150
    reopened = FaissIndex(tmp_path / "live", policy=inline("hnsw"))  # restore saved it as the live state
    assert reopened.ids(S).tolist() == expected and reopened.spaces() == ["g|m", "other|m"]
    assert reopened.search([S], vectors[3:4], 5)[0][0].vector_id != 3


def test_auto_kind_follows_space_size(tmp_path):
    policy = AnnPolicy(kind="auto", auto_hnsw_from=300, auto_ivfpq_from=1000, background_build=False)
    rng = np.random.default_rng(5)
    index = FaissIndex(tmp_path, policy=policy)
    index.add(S, np.arange(299), unit(rng, 299))
    assert index.stats()[S]["kind"] == "flat"
    index.add(S, np.arange(299, 600), unit(rng, 301))
    assert index.stats()[S]["kind"] == "hnsw"
    index.add(S, np.arange(600, 1200), unit(rng, 600))
    assert index.stats()[S]["kind"] == "ivfpq"
    assert index.count(S) == 1200


def test_explicit_kind_is_pinned(tmp_path):
    rng = np.random.default_rng(11)
    index = FaissIndex(tmp_path, policy=AnnPolicy(kind="flat", background_build=False))
    index.add(S, np.arange(200), unit(rng, 200))
    index.rebuild(S, "hnsw").result()
    index.add(S, np.array([500]), unit(rng, 1))  # the flat policy does not switch it back
    assert index.stats()[S]["kind"] == "hnsw"


def test_policy_choices():
    auto = AnnPolicy(kind="auto")
    assert [auto.kind_for(n) for n in (10, 200_000, 5_000_000)] == ["flat", "hnsw", "ivfpq"]
    forced = AnnPolicy(kind="hnsw", ann_min_vectors=100)
    assert forced.kind_for(99) == "flat" and forced.kind_for(100) == "hnsw"
    assert auto.nlist_for(1_000_000) == 1024 and auto.nlist_for(10_000_000) == 4096
    assert auto.nlist_for(200) == 5  # never more lists than the data can train
    assert auto.pq_shape(128, 10**6) == (64, 8)
    assert auto.pq_shape(12, 100) == (12, 6)  # m divides the dimension; few points, fewer bits


def test_settings_wire_the_policy(tmp_path):
    settings = Settings(data_dir=tmp_path, index_kind="ivfpq", index_ivf_nprobe=7, index_hnsw_m=12)
    index = make_index(settings)
    assert isinstance(index, FaissIndex)
    assert index.policy.kind == "ivfpq" and index.policy.ivf_nprobe == 7 and index.policy.hnsw_m == 12


def test_files_survive_a_torn_write_and_old_generations_are_swept(tmp_path):
    rng = np.random.default_rng(6)
    index = FaissIndex(tmp_path, policy=inline("hnsw"))
    index.add(S, np.arange(50), unit(rng, 50))
    index.flush(force=True)
    first = json.loads((tmp_path / "manifest.json").read_text())
    index.add(S, np.arange(50, 60), unit(rng, 10))
    index.flush(force=True)
    names = {p.name for p in tmp_path.iterdir()}
    gen = json.loads((tmp_path / "manifest.json").read_text())["spaces"][S]["gen"]
    assert gen > first["spaces"][S]["gen"]
    assert all(f".{gen}." in n for n in names if n.endswith((".npy", ".faiss")))
    (tmp_path / "junk.99.vec.npy.tmp").write_bytes(b"torn")  # a crash mid-write
    again = FaissIndex(tmp_path, policy=inline("hnsw"))
    assert again.count(S) == 60 and again.stats()[S]["kind"] == "hnsw"


def test_reads_first_format_files(tmp_path):
    rng = np.random.default_rng(7)
    vectors = unit(rng, 20)
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    old.add_with_ids(vectors, np.arange(100, 120))
    faiss.write_index(old, str(tmp_path / "abc.faiss"))
    (tmp_path / "manifest.json").write_text(json.dumps({"spaces": {S: {"file": "abc.faiss", "count": 20}}}))
    index = FaissIndex(tmp_path)
    assert index.ids(S).tolist() == list(range(100, 120))
    assert index.search([S], vectors[4:5], 1)[0][0].vector_id == 104
    index.flush(force=True)  # rewritten in the current format, the old file swept
    assert not (tmp_path / "abc.faiss").exists()
    assert FaissIndex(tmp_path).count(S) == 20


def test_many_removals_compact_the_store(tmp_path):
    rng = np.random.default_rng(8)
    vectors = unit(rng, 3000)
    index = FaissIndex(tmp_path)
    index.add(S, np.arange(3000), vectors)
    index.remove(S, np.arange(0, 3000, 2))
    assert index.stats()[S]["store_bytes"] < 3000 * DIM * 4  # dead rows dropped
    assert index.count(S) == 1500
    hits = index.search([S], vectors[1:2], 3)[0]
    assert hits[0].vector_id == 1 and all(h.vector_id % 2 for h in hits)
    index.add(S, np.array([0]), vectors[:1])  # a removed id may come back
    assert index.search([S], vectors[:1], 1)[0][0].vector_id == 0


def test_bad_dimension_on_reserve_and_queries(tmp_path):
    index = FaissIndex(tmp_path)
    index.reserve(S, DIM, 1000)
    assert index.count(S) == 0 and index.spaces() == []
    index.add(S, np.arange(3), unit(np.random.default_rng(9), 3))
    from fieldid.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        index.reserve(S, DIM + 1, 10)
    with pytest.raises(InvalidRequest):
        index.search([S], np.zeros((1, DIM + 1), np.float32), 1)


def test_exact_search_ignores_the_approximate_index(tmp_path: Path):
    rng = np.random.default_rng(10)
    vectors = unit(rng, 500)
    index = FaissIndex(tmp_path, policy=inline("ivfpq", ivf_nprobe=1, rescore_factor=1))
    index.add(S, np.arange(500), vectors)
    queries = unit(rng, 20)
    for q, hits in zip(queries, index.search_exact([S], queries, 5), strict=True):
        assert [h.vector_id for h in hits] == exact_ids(np.arange(500), vectors, q, 5)


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_removal_erases_the_vector_from_memory_and_files(tmp_path, kind, monkeypatch):
    """A deleted person's template does not survive inside the graph or the saved files: HNSW
    nodes keep their place but their vectors are zeroed, IVF lists drop their codes; and a
    removal is saved at the next flush, even where additions are batched."""
    monkeypatch.setattr(faiss_index_module, "SMALL_SPACE", 10)  # this space counts as large
    rng = np.random.default_rng(3)
    vectors = unit(rng, 400)
    index = FaissIndex(tmp_path, save_every=10_000, policy=inline(kind, tombstone_rebuild_fraction=0.9))
    index.add(S, np.arange(400), vectors)
    index.flush(force=True)
    before = {p.name for p in tmp_path.iterdir()}
    index.add(S, np.array([1000]), unit(rng, 1))
    index.flush()  # an addition alone waits for save_every
    assert {p.name for p in tmp_path.iterdir()} == before
    assert index.remove(S, np.array([5])) == 1
    index.flush()  # a removal does not wait
    assert {p.name for p in tmp_path.iterdir()} != before
    ann = index._spaces[S].ann  # noqa: SLF001 - looking inside on purpose
    if kind == "hnsw":
        storage = faiss.downcast_index(faiss.downcast_index(ann.index).storage)
        position = int(np.flatnonzero(faiss.vector_to_array(ann.id_map) == 5)[0])
        assert not storage.reconstruct(position).any()
        saved = b"".join(p.read_bytes() for p in tmp_path.glob("*.faiss"))
        assert vectors[5].tobytes() not in saved and vectors[6].tobytes() in saved
    else:
        assert ann.ntotal == 400  # 400 + 1 added - 1 removed
    reopened = FaissIndex(tmp_path, policy=inline(kind))
    assert reopened.count(S) == 400 and 5 not in reopened.ids(S)
    assert 5 not in {h.vector_id for h in reopened.search([S], vectors[5:6], 20)[0]}
