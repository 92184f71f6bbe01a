"""Decoding a minutiae network's output maps (pure; the real LEADER is in tests/models)."""

from __future__ import annotations

import numpy as np
import pytest

from fieldid.core.finger.minutiae import BIFURCATION, ENDING
from fieldid.core.finger.netminutiae import SIZE_MULTIPLE, decode_minutiae, detect_minutiae, net_input
from fieldid.core.params import FingerNetParams


def test_input_is_padded_to_the_net_multiple_with_the_background_grey():
    gray = np.full((300, 257), 200, np.uint8)
    gray[100:200, 100:200] = 30
    batch, (left, top) = net_input(gray)
    assert batch.shape == (1, 320, 288, 1) and batch.dtype == np.float32
    assert batch.shape[1] % SIZE_MULTIPLE == 0 and batch.shape[2] % SIZE_MULTIPLE == 0
    inner = batch[0, top:top + 300, left:left + 257, 0]
    assert np.array_equal(inner, gray.astype(np.float32))
    assert batch[0, 0, 0, 0] == 200.0 and batch[0, -1, -1, 0] == 200.0


def maps_with(points, shape=(64, 96)):
    """(H, W, 4) maps with detections at (x, y, iso direction, type value, quality)."""
    m = np.zeros((*shape, 4), np.float32)
    m[..., 3] = 0.2  # below threshold everywhere else
    for x, y, d, t, q in points:
        m[y, x] = (1.0, d, t, q)
    return m


def test_detections_are_decoded_best_first_in_the_image_frame():
    m = maps_with([(10, 5, 0.5, 0.9, 0.6), (40, 30, 2.0, 0.1, 0.95), (70, 50, 6.0, 0.5, 0.54)])
    raw = decode_minutiae(m, (0, 0), m.shape[:2], FingerNetParams())
    assert raw.x.tolist() == [40.0, 10.0] and raw.y.tolist() == [30.0, 5.0]  # 0.54 < 0.55: dropped
    assert raw.kind.tolist() == [BIFURCATION, ENDING]
    assert raw.quality.tolist() == [95, 60]
    # The net's directions are counter-clockwise as viewed (ISO); RawMinutiae's are image-frame.
    assert np.allclose(raw.angle, [(-2.0) % (2 * np.pi), (-0.5) % (2 * np.pi)], atol=1e-6)


def test_padding_offset_is_removed_and_detections_in_the_padding_ignored():
    m = maps_with([(3, 2, 1.0, 0.9, 0.9), (20, 12, 1.0, 0.9, 0.9)])
    raw = decode_minutiae(m, (5, 4), (40, 60), FingerNetParams())
    assert raw.x.tolist() == [15.0] and raw.y.tolist() == [8.0]


class ScriptedNet:
    """Protocol implementation returning given maps (for the shape checks of detect_minutiae)."""

    model_id = "scripted@1"

    def __init__(self, out):
        self.out = out

    def run(self, batch):
        return self.out(batch)


def test_detect_runs_on_the_padded_image_and_maps_back():
    gray = np.full((50, 70), 120, np.uint8)

    def out(batch):
        h, w = batch.shape[1:3]
        m = np.zeros((1, h, w, 4), np.float32)
        m[0, h // 2, w // 2] = (1, 1.0, 0.9, 0.8)
        return m

    raw = detect_minutiae(gray, ScriptedNet(out), FingerNetParams())
    assert net_input(gray)[1] == (13, 7)  # 70 → 96 wide, 50 → 64 high
    assert raw.x.tolist() == [96 // 2 - 13] and raw.y.tolist() == [64 // 2 - 7]


def test_a_net_output_of_the_wrong_shape_is_an_error_not_a_guess():
    gray = np.full((50, 70), 120, np.uint8)
    with pytest.raises(ValueError):
        detect_minutiae(gray, ScriptedNet(lambda b: np.zeros((1, 10, 10, 4), np.float32)), FingerNetParams())
