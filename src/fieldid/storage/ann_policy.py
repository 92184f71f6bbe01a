"""Which FAISS structure a space gets, and the knobs of each (built from the settings).

Kinds:

* ``flat`` — exact inner product over the stored float32 vectors (small galleries);
* ``hnsw`` — a graph (``IndexHNSWFlat``), fast and accurate, ~1.3 kB per vector at 128-d;
* ``ivfpq`` — inverted lists of product-quantised codes (``IndexIVFPQ``), ~72 B per vector in
  the index, for galleries of many millions.

Every approximate kind only proposes candidates: the top ``k × rescore_factor`` are re-scored
exactly against the stored float32 vectors, so the scores a caller sees are always exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from fieldid.config import Settings

IndexKind = Literal["auto", "flat", "hnsw", "ivfpq"]

#: IVF k-means wants about this many training points per list (FAISS warns below 39).
TRAIN_POINTS_PER_LIST = 39
#: A PQ sub-quantiser has 2**nbits centroids; 8 bits = one byte per sub-vector.
PQ_NBITS = 8


@dataclass(frozen=True)
class AnnPolicy:
    kind: IndexKind = "flat"
    #: ``auto``: spaces with at least this many vectors get HNSW …
    auto_hnsw_from: int = 200_000
    #: … and at least this many get IVF-PQ (HNSW's memory grows too large beyond).
    auto_ivfpq_from: int = 5_000_000
    #: A forced ``hnsw``/``ivfpq`` kind still scans exactly below this size (it is faster there).
    ann_min_vectors: int = 10_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 1024
    #: 0 = about √n lists, rounded to a power of two (1024 at 1M, 4096 at 10M).
    ivf_nlist: int = 0
    ivf_nprobe: int = 128
    #: Bytes per PQ code (sub-quantisers); the largest divisor of the dimension not above it is used.
    pq_m: int = 64
    #: IVF training sample, at least 64 points per list (k-means cost grows with it).
    train_sample: int = 262_144
    rescore_factor: int = 30
    #: Rebuild a space's approximate index when this share of its entries are tombstones.
    tombstone_rebuild_fraction: float = 0.1
    #: Build approximate indexes in a background thread (False: inline, for tests and benchmarks).
    background_build: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> AnnPolicy:
        return cls(
            kind=settings.index_kind,
            auto_hnsw_from=settings.index_auto_hnsw_from,
            auto_ivfpq_from=settings.index_auto_ivfpq_from,
            ann_min_vectors=settings.index_ann_min_vectors,
            hnsw_m=settings.index_hnsw_m,
            hnsw_ef_construction=settings.index_hnsw_ef_construction,
            hnsw_ef_search=settings.index_hnsw_ef_search,
            ivf_nlist=settings.index_ivf_nlist,
            ivf_nprobe=settings.index_ivf_nprobe,
            pq_m=settings.index_pq_m,
            rescore_factor=settings.index_rescore_factor,
            tombstone_rebuild_fraction=settings.index_tombstone_rebuild_fraction,
            background_build=settings.index_background_build,
        )

    def kind_for(self, n: int) -> Literal["flat", "hnsw", "ivfpq"]:
        """The structure a space of ``n`` vectors should have."""
        if self.kind == "auto":
            if n >= self.auto_ivfpq_from:
                return "ivfpq"
            return "hnsw" if n >= self.auto_hnsw_from else "flat"
        if self.kind != "flat" and n < self.ann_min_vectors:
            return "flat"
        return self.kind

    def nlist_for(self, n: int) -> int:
        """IVF lists for ``n`` vectors, never more than the training data can support."""
        nlist = self.ivf_nlist or 2 ** round(math.log2(max(1.0, math.sqrt(n))))
        return max(1, min(nlist, n // TRAIN_POINTS_PER_LIST or 1))

    def pq_shape(self, dim: int, n: int) -> tuple[int, int]:
        """(sub-quantisers, bits each): m divides dim; tiny spaces get fewer bits so k-means can train."""
        m = max(d for d in range(1, min(self.pq_m, dim) + 1) if dim % d == 0)
        nbits = min(PQ_NBITS, max(1, int(math.log2(max(2, n)))))
        return m, nbits

    def candidates(self, k: int) -> int:
        return k * max(1, self.rescore_factor)
