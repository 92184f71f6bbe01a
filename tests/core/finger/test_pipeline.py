"""The extractor's stages and their product on real prints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fieldid.core.finger import extract_finger
from fieldid.core.finger.enhance import gabor_kernel
from fieldid.core.finger.minutiae import BIFURCATION, ENDING, crossing_numbers
from fieldid.core.finger.orient import orientation_field, ridge_period
from fieldid.core.finger.segment import normalize_ridges, segment_print
from fieldid.core.params import FingerEnhanceParams, FingerFrequencyParams, FingerOrientParams, FingerParams
from fieldid.errors import NoFingerprintFound
from tests.core.finger.conftest import load_gray


def stripes(theta: float, period: float, size: int = 160) -> np.ndarray:
    """Dark ridges running at ``theta`` (image frame) with the given period."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    across = -x * np.sin(theta) + y * np.cos(theta)
    return (127 + 100 * np.cos(2 * np.pi * across / period)).astype(np.uint8)


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.2, 2.5])
def test_orientation_of_stripes(theta):
    field = orientation_field(normalize_ridges(stripes(theta, 9.0), 16), FingerOrientParams())
    centre = field.theta[60:100, 60:100]
    err = np.abs((centre - theta + np.pi / 2) % np.pi - np.pi / 2)
    assert np.median(err) < np.radians(3)
    assert field.coherence[60:100, 60:100].mean() > 0.9


@pytest.mark.parametrize("period", [6.0, 9.0, 12.0])
def test_ridge_period_of_stripes(period):
    img = normalize_ridges(stripes(0.7, period), 16)
    result = ridge_period(img, np.ones(img.shape, bool), FingerFrequencyParams())
    assert abs(result.median - period) / period < 0.06
    assert result.reliable_share > 0.9


def test_gabor_kernel_has_no_dc_and_peaks_across_ridges():
    k = gabor_kernel(0.0, 9.0, FingerEnhanceParams())
    assert abs(float(k.sum())) < 1e-4
    c = k.shape[0] // 2
    assert k[c, c] > 0 and k[c + 4, c] < 0  # half a period across horizontal ridges: a valley


def test_segmentation_finds_the_print_not_the_background():
    gray = load_gray("fvc2000_db2_101_1")
    mask = segment_print(gray, FingerParams().segment)
    assert 0.3 < mask.mean() < 0.95
    flat = np.full((200, 200), 180, np.uint8)
    assert not segment_print(flat, FingerParams().segment).any()


def test_crossing_number_of_a_fork():
    skel = np.zeros((9, 9), np.uint8)
    skel[4, 1:5] = 1  # stem ending at (4, 1)
    skel[3, 5], skel[2, 6], skel[1, 7] = 1, 1, 1  # branch up
    skel[5, 5], skel[6, 6], skel[7, 7] = 1, 1, 1  # branch down
    cn = crossing_numbers(skel)
    assert cn[4, 1] == 1 and cn[4, 4] == 3 and cn[4, 2] == 2


def test_template_of_a_real_print(prints):
    t = prints["fvc2000_db2_101_1"]
    assert 15 <= t.count <= 120
    m = t.minutiae
    assert m.shape[1] == 5 and m.dtype == np.float32 and not m.flags.writeable
    assert (m[:, 0] >= 0).all() and (m[:, 0] < t.width).all() and (m[:, 1] < t.height).all()
    assert ((m[:, 2] >= 0) & (m[:, 2] < 2 * np.pi)).all()
    assert set(np.unique(m[:, 3]).tolist()) <= {ENDING, BIFURCATION}
    assert ((m[:, 4] >= 1) & (m[:, 4] <= 100)).all()
    assert t.ppi == 500 and not t.contactless and t.model.startswith("fieldid-")
    assert t.quality.acceptable and 40 <= t.quality.score <= 100


def test_trace_sink_sees_every_stage():
    seen: list[str] = []
    extract_finger(load_gray("fvc2000_db2_102_1"), trace=lambda stage, value: seen.append(stage))
    assert seen == ["mask", "orientation", "period", "enhanced", "skeleton", "minutiae", "quality"]


def test_resolution_is_normalised_to_500_ppi(prints):
    gray = load_gray("fvc2000_db2_101_1")
    big = cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    t = extract_finger(big, ppi=1000)
    assert t.ppi == 500 and abs(t.width - gray.shape[1]) <= 1
    from fieldid.core.finger import Matcher

    assert Matcher(t).match(prints["fvc2000_db2_101_1"]) > 0.3


@pytest.mark.parametrize(
    "image",
    [
        np.full((300, 300), 200, np.uint8),  # blank platen
        np.random.default_rng(1).integers(0, 256, (300, 300)).astype(np.uint8),  # noise
        np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (300, 1)),  # gradient
        np.zeros((20, 20), np.uint8),  # too small
    ],
    ids=["blank", "noise", "gradient", "tiny"],
)
def test_images_without_a_print_raise_no_fingerprint(image):
    with pytest.raises(NoFingerprintFound) as info:
        extract_finger(image)
    assert info.value.code == "no_fingerprint"
