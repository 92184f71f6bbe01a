"""The Embedder protocol: aligned chips in, unit vectors out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ChipView:
    """One aligned chip of a face: from which landmark set (5 or 68 dlib points), with what padding."""

    landmarks: int = 5
    padding: float | None = None  # None: the alignment parameters' padding


@dataclass(frozen=True)
class AlignmentSpec:
    """How an embedder wants its input: ``kind`` "dlib" (150×150, dlib chip) or "arcface".

    ``views``: the chips cut from each face (one by default); the pipeline embeds every view
    and averages the unit vectors (see :class:`ViewAveraged`).
    """

    kind: str
    size: int
    views: tuple[ChipView, ...] = (ChipView(),)


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
        self.model_id = tagged_model_id(inner.model_id, "flip")
        self.dim = inner.dim
        self.alignment = inner.alignment

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        chips = np.asarray(chips)
        mirrored = np.ascontiguousarray(chips[:, :, ::-1])
        both = self.inner.embed(np.concatenate([chips, mirrored]), jitters=jitters)
        n = len(chips)
        return l2_normalize(l2_normalize(both[:n]) + l2_normalize(both[n:]))


def tagged_model_id(model_id: str, tag: str) -> str:
    """"name@version" → "name-tag@version": the id of a model run with an augmentation."""
    name, _, version = model_id.partition("@")
    return f"{name}-{tag}@{version}" if version else f"{name}-{tag}"


def average_views(vectors: np.ndarray) -> np.ndarray:
    """(views, dim) unit vectors of one face → their normalised mean (one view: unchanged)."""
    return l2_normalize(l2_normalize(vectors).mean(axis=0))


class ViewAveraged:
    """Test-time augmentation over alignments: the face is cut several times (dlib chips with
    different paddings, or from the 5- and the 68-point landmarks) and the pipeline averages
    their embeddings.

    Each cut shows the network a slightly different face (more or less hair, ears and jaw;
    eyes placed by other points), and the errors of the cuts are partly independent, so their
    mean is steadier. Measured on the dev LFW pairs (folds 1–5, docs/accuracy.md §1) with flip
    averaging inside: one chip 98.93 %; the chip at 25 % and at 35 % padding 99.37 %; the
    5-point and the 68-point chip 99.27 %; each for twice the embedding time. The model id names
    the views ("<name>-lm5p25-lm5p35@<version>"): its scores need their own calibration.
    """

    def __init__(self, inner: Embedder, views: tuple[ChipView, ...]) -> None:
        if not views:
            raise ValueError("at least one view")
        if inner.alignment.kind != "dlib":
            raise ValueError("view averaging needs dlib chips (5- or 68-point landmarks)")
        self.inner = inner
        self.model_id = tagged_model_id(inner.model_id, "-".join(_view_tag(v) for v in views))
        self.dim = inner.dim
        self.alignment = replace(inner.alignment, views=tuple(views))

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        return self.inner.embed(chips, jitters=jitters)


def _view_tag(view: ChipView) -> str:
    tag = f"lm{view.landmarks}"
    return tag if view.padding is None else f"{tag}p{round(view.padding * 100)}"
