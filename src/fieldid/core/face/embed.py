"""The Embedder protocol: aligned chips in, unit vectors out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class AlignmentSpec:
    """How an embedder wants its input: ``kind`` "dlib" (150×150, dlib chip) or "arcface"."""

    kind: str
    size: int


class Embedder(Protocol):
    """A face embedding model. Implementations live in :mod:`fieldid.models`."""

    @property
    def model_id(self) -> str:
        """Stable "name@version": templates of different model ids never mix in one index."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def alignment(self) -> AlignmentSpec: ...

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        """(n, size, size, 3) uint8 RGB chips → (n, dim) float32 unit vectors."""
        ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero) as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)
