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


class FlipAveraged:
    """Test-time augmentation: the mean of the embeddings of a chip and of its mirror image.

    A face and its mirror are the same person, so averaging removes part of the embedding's
    dependence on pose and lighting direction; measured on the dev LFW pairs (folds 1–5,
    `fieldid eval faces`) it raises the dlib model's accuracy from 98.50 % to 98.93 % for ~1.5×
    the embedding time. The model id changes ("<name>-flip@<version>"): its scores need their
    own calibration.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        name, _, version = self.inner.model_id.partition("@")
        return f"{name}-flip@{version}" if version else f"{name}-flip"

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def alignment(self) -> AlignmentSpec:
        return self.inner.alignment

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        chips = np.asarray(chips)
        mirrored = np.ascontiguousarray(chips[:, :, ::-1])
        both = self.inner.embed(np.concatenate([chips, mirrored]), jitters=jitters)
        n = len(chips)
        return l2_normalize(l2_normalize(both[:n]) + l2_normalize(both[n:]))
