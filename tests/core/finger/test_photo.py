"""Contactless photos: fingers found in colour photos, scale from ridges, matched to contact prints."""

from __future__ import annotations

import numpy as np
import pytest

from fieldid.core.finger import Matcher, extract_finger, extract_fingers_from_photo
from fieldid.core.finger.synth import SKIN_TONES, RenderSettings, render_contactless
from fieldid.errors import NoFingerprintFound
from tests.core.finger.conftest import load_gray


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rgb, info = render_contactless(load_gray("fvc2000_db2_101_1"), np.random.default_rng(11))
    assert 0.6 <= info["scale"] <= 1.6
    return rgb


def test_rendering_is_a_colour_photo_with_bright_ridges(photo):
    assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
    r, g, b = (photo[..., k].astype(float).mean() for k in range(3))
    assert r > b  # skin tones are red-heavy


def test_contactless_photo_gives_a_contactless_template(photo):
    templates = extract_fingers_from_photo(photo)
    assert len(templates) == 1
    t = templates[0]
    assert t.contactless and t.capture.impression_type == 8 and t.ppi == 500
    assert t.count >= 12
    measures = t.quality.measures
    assert {"ridge_clarity", "scale", "illumination_unevenness"} <= set(measures)
    assert all(code.startswith(("contactless_", "too_few", "few_")) for code in t.quality.issue_codes)


def test_photo_matches_its_finger_better_than_another(photo):
    probe = Matcher(extract_fingers_from_photo(photo)[0])
    mate = probe.match(extract_finger(load_gray("fvc2000_db2_101_2")))
    others = [probe.match(extract_finger(load_gray(n))) for n in ("fvc2000_db2_102_1", "fvc2000_db2_102_2")]
    assert mate > max(others)


def test_two_fingers_in_one_photo_come_left_to_right():
    rng = np.random.default_rng(5)
    cloth = RenderSettings(background=(30, 60, 140))  # a blue cloth behind the hand: not skin
    a, _ = render_contactless(load_gray("fvc2000_db2_101_1"), rng, cloth)
    b, _ = render_contactless(load_gray("fvc2000_db2_102_1"), rng, cloth)
    h = max(a.shape[0], b.shape[0])
    canvas = np.zeros((h + 40, a.shape[1] + b.shape[1] + 120, 3), np.uint8)
    canvas[...] = (30, 60, 140)
    canvas[20 : 20 + a.shape[0], 20 : 20 + a.shape[1]] = a
    canvas[20 : 20 + b.shape[0], 100 + a.shape[1] : 100 + a.shape[1] + b.shape[1]] = b
    templates = extract_fingers_from_photo(canvas)
    assert len(templates) == 2
    left = extract_fingers_from_photo(a)[0]
    assert Matcher(templates[0]).match(left) > Matcher(templates[1]).match(left)


@pytest.mark.parametrize("kind", ["skin", "noise"])
def test_photo_without_a_finger_raises(kind):
    rng = np.random.default_rng(2)
    if kind == "skin":
        img = np.zeros((400, 300, 3), np.uint8)
        img[...] = SKIN_TONES[2]
    else:
        img = rng.integers(0, 256, (400, 300, 3)).astype(np.uint8)
    with pytest.raises(NoFingerprintFound) as info:
        extract_fingers_from_photo(img)
    assert info.value.code == "no_fingerprint"
