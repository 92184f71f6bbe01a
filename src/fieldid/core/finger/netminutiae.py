"""Minutiae from a neural network's output maps (LEADER, Cappelli & Ferrara 2026).

LEADER is a fully convolutional network that maps a raw 500 ppi grey image straight to
minutiae maps: it replaces our Gabor enhancement, thinning and crossing-number stages (on
FVC2000 DB1–3 it lowered the pooled EER from 4.5 % to under 1 %: see ``docs/accuracy.md``).
This module is the pure part: the input the net expects and the decoding of its output.
Running the net is the :class:`MinutiaeNet` given by the caller
(:mod:`fieldid.models.finger_models`).

Output channels per pixel: 0 position heatmap, 1 direction (radians, counter-clockwise as the
image is viewed, i.e. the ISO/IEC 19794-2 convention), 2 type (≥ type threshold: ending),
3 quality after the network's own non-maximum suppression (detections are the pixels where
it reaches the quality threshold).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fieldid.core.finger.minutiae import BIFURCATION, ENDING, RawMinutiae
from fieldid.core.params import FingerNetParams

#: Input sides must be multiples of this (the net downsamples five times by 2).
SIZE_MULTIPLE = 32


class MinutiaeNet(Protocol):
    """A network from a grey print (1, H, W, 1 float32, 0–255) to (H, W, 4) minutiae maps."""

    @property
    def model_id(self) -> str: ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def net_input(gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The padded NHWC float32 batch of one image and the (left, top) offset of the image in it.

    The padding repeats the image's corner grey (the background of a scan) so that no
    artificial edge is made.
    """
    h, w = gray.shape
    ph, pw = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
    left, top = pw // 2, ph // 2
    padded = np.pad(gray.astype(np.float32), ((top, ph - top), (left, pw - left)), mode="constant",
                    constant_values=float(gray[0, 0]))
    return padded[None, :, :, None], (left, top)


def decode_minutiae(maps: np.ndarray, offset: tuple[int, int], shape: tuple[int, int],
                    params: FingerNetParams) -> RawMinutiae:
    """Minutiae (image frame, as :class:`RawMinutiae`) from the net's (H, W, 4) output."""
    left, top = offset
    h, w = shape
    m = np.asarray(maps, dtype=np.float32)[top:top + h, left:left + w]
    ys, xs = np.nonzero(m[..., 3] >= params.quality_threshold)
    quality = m[ys, xs, 3]
    order = np.lexsort((xs, ys, -quality))  # best first, ties in reading order
    ys, xs, quality = ys[order], xs[order], quality[order]
    iso = m[ys, xs, 1].astype(np.float64)
    kind = np.where(m[ys, xs, 2] >= params.type_threshold, ENDING, BIFURCATION).astype(np.int32)
    return RawMinutiae(
        x=xs.astype(np.float32),
        y=ys.astype(np.float32),
        angle=((-iso) % (2 * np.pi)).astype(np.float32),  # RawMinutiae angles are image-frame
        kind=kind,
        quality=np.clip(np.round(100.0 * quality), 1, 100).astype(np.int32),
    )


def detect_minutiae(gray: np.ndarray, net: MinutiaeNet, params: FingerNetParams) -> RawMinutiae:
    """Run ``net`` on a 500 ppi grey print (dark ridges) and decode its detections."""
    batch, offset = net_input(gray)
    maps = np.asarray(net.run(batch))
    if maps.ndim == 4:
        maps = maps[0]
    if maps.shape[:2] != batch.shape[1:3] or maps.shape[2] != 4:
        raise ValueError(f"minutiae net output {maps.shape} does not fit its input {batch.shape}")
    return decode_minutiae(maps, offset, gray.shape, params)
