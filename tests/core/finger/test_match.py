"""MCC matching: self, genuine and impostor scores, invariances, batching, search keys."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fieldid.core.finger import SCORE_RANGE, SEARCH_KEY_DIM, Matcher, pack, prepare, search_key
from fieldid.core.finger.match import local_similarities
from fieldid.types import FingerTemplate, frozen_array


def moved(t: FingerTemplate, angle: float, dx: float, dy: float) -> FingerTemplate:
    """The same minutiae rotated (counter-clockwise as viewed) about the centre and shifted."""
    m = np.array(t.minutiae, np.float64)
    cx, cy = t.width / 2, t.height / 2
    c, s = np.cos(angle), np.sin(angle)
    x, y = m[:, 0] - cx, m[:, 1] - cy
    m[:, 0] = cx + c * x + s * y + dx  # y points down: a viewed CCW turn is (x, y) → (cx + sy, −sx + cy)
    m[:, 1] = cy - s * x + c * y + dy
    m[:, 2] = (m[:, 2] + angle) % (2 * np.pi)
    return replace(t, minutiae=frozen_array(m, np.float32), width=t.width + 200, height=t.height + 200)


def test_self_match_is_near_one(prints):
    t = prints["fvc2000_db2_101_1"]
    assert Matcher(t).match(t) > 0.9


def test_genuine_beats_impostor(prints):
    genuine = Matcher(prints["fvc2000_db2_101_1"]).match(prints["fvc2000_db2_101_2"])
    impostors = [Matcher(prints[a]).match(prints[b]) for a, b in [
        ("fvc2000_db2_101_1", "fvc2000_db2_102_1"), ("fvc2000_db2_101_2", "fvc2000_db2_102_2"),
        ("fvc2000_db2_101_1", "fvc2000_db2_102_2")]]
    assert genuine > 0.1 and max(impostors) < 0.06 and genuine > 3 * max(impostors)
    assert all(SCORE_RANGE[0] <= s <= SCORE_RANGE[1] for s in [genuine, *impostors])


# Up to ± 90°: MCC (like the paper, δθ = π/2) assumes fingers are placed upright within that.
@pytest.mark.parametrize("angle,dx,dy", [(0.6, 40, -25), (-1.1, 0, 80), (1.1, 100, 100)])
def test_score_is_invariant_to_rotation_and_translation(prints, angle, dx, dy):
    a, b = prints["fvc2000_db2_101_1"], prints["fvc2000_db2_101_2"]
    base = Matcher(a).match(b)
    assert Matcher(moved(a, angle, dx + 100, dy + 100)).match(b) == pytest.approx(base, abs=0.04)


def test_match_many_equals_match_and_prepared_equals_template(prints):
    probe = prints["fvc2000_db2_102_1"]
    matcher = Matcher(probe)
    cands = list(prints.values())
    one_by_one = np.array([matcher.match(c) for c in cands])
    np.testing.assert_allclose(matcher.match_many(cands), one_by_one, rtol=1e-12)
    np.testing.assert_allclose(matcher.match_many([prepare(c) for c in cands]), one_by_one, rtol=1e-12)
    assert matcher.match_packed(pack([prepare(c) for c in cands])).shape == (len(cands),)


def test_empty_and_tiny_templates_score_zero(prints):
    t = prints["fvc2000_db2_101_1"]
    empty = replace(t, minutiae=frozen_array(np.zeros((0, 5)), np.float32))
    one = replace(t, minutiae=frozen_array(t.minutiae[:1], np.float32))
    assert Matcher(t).match(empty) == 0.0 and Matcher(empty).match(t) == 0.0
    assert Matcher(one).match(t) == 0.0
    assert len(Matcher(empty).match_many([t, t])) == 2


def test_bit_similarity_matches_a_numpy_reference(prints):
    a, b = prepare(prints["fvc2000_db2_101_1"]), prepare(prints["fvc2000_db2_101_2"])
    fast = local_similarities(a.angle, a.bits, a.mask, b.angle, b.bits, b.mask, np.pi / 2, 0)
    bits_a = np.unpackbits(a.bits.view(np.uint8), axis=2, bitorder="little")
    bits_b = np.unpackbits(b.bits.view(np.uint8), axis=2, bitorder="little")
    mask_a = np.unpackbits(a.mask.view(np.uint8), axis=1, bitorder="little")
    mask_b = np.unpackbits(b.mask.view(np.uint8), axis=1, bitorder="little")
    for i, j in [(0, 0), (3, 5), (7, 2)]:
        both = mask_a[i] & mask_b[j]
        ca, cb = bits_a[i] & both, bits_b[j] & both
        diff = np.cos(a.angle[i] - b.angle[j]) < 0
        ref = 0.0 if diff or (ca.sum() + cb.sum()) == 0 else \
            1 - np.sqrt((ca ^ cb).sum()) / (np.sqrt(ca.sum()) + np.sqrt(cb.sum()))
        assert fast[i, j] == pytest.approx(ref, abs=1e-9)


def test_search_key_is_a_unit_vector_that_ranks_the_mate_first(prints):
    keys = {n: search_key(t) for n, t in prints.items()}
    for k in keys.values():
        assert k.shape == (SEARCH_KEY_DIM,) and k.dtype == np.float32
        assert np.linalg.norm(k) == pytest.approx(1.0, abs=1e-5)
    probe = keys["fvc2000_db2_101_1"]
    others = (probe @ keys["fvc2000_db2_102_1"], probe @ keys["fvc2000_db2_102_2"])
    assert probe @ keys["fvc2000_db2_101_2"] > max(others)


def test_search_key_survives_rotation(prints):
    t = prints["fvc2000_db2_101_1"]
    assert search_key(t) @ search_key(moved(t, 2.8, 150, 150)) > 0.8  # pair geometry is rotation-free
