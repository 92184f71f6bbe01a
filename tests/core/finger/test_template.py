"""ISO/IEC 19794-2 records: byte-exact round trips and corrupt input."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldid.core.finger import decode_iso19794_2, encode_iso19794_2
from fieldid.errors import TemplateError
from fieldid.types import FingerCapture, FingerTemplate, QualityReport, frozen_array


def make(minutiae: np.ndarray, **kw) -> FingerTemplate:
    base = dict(width=300, height=400, ppi=500, quality=QualityReport(score=57.0), model="test@1")
    base.update(kw)
    return FingerTemplate(minutiae=frozen_array(minutiae, np.float32), **base)


@pytest.mark.parametrize("version", ["2005", "2011"])
def test_extracted_template_round_trips_byte_exactly(prints, version):
    t = prints["fvc2000_db2_101_1"]
    data = encode_iso19794_2(t, version)
    back = decode_iso19794_2(data)
    assert encode_iso19794_2(back, version) == data
    assert back.count == t.count and (back.width, back.height, back.ppi) == (t.width, t.height, t.ppi)
    np.testing.assert_allclose(back.minutiae[:, :2], np.round(t.minutiae[:, :2]), atol=0)
    step = 2 * np.pi / 256
    diff = np.abs((back.minutiae[:, 2] - t.minutiae[:, 2] + np.pi) % (2 * np.pi) - np.pi)
    assert diff.max() <= step / 2 + 1e-5
    np.testing.assert_array_equal(back.minutiae[:, 3], t.minutiae[:, 3])


def test_known_2005_layout():
    t = make(np.array([[10, 20, np.pi / 2, 1, 80], [299, 399, 0, 2, 5]]),
             capture=FingerCapture(finger_position=2, impression_type=0, view_number=0))
    data = encode_iso19794_2(t, "2005")
    assert data[:8] == b"FMR\x00 20\x00"
    assert struct.unpack(">I", data[8:12])[0] == len(data) == 24 + 4 + 2 * 6 + 2
    assert struct.unpack(">HHHH", data[14:22]) == (300, 400, 197, 197)  # 500 ppi = 197 px/cm
    assert data[24:28] == bytes([2, 0, 57, 2])
    # ending (01) at x=10, y=20, 90° = 64 steps of 1.40625°, quality 80
    assert data[28:34] == struct.pack(">HHBB", (1 << 14) | 10, 20, 64, 80)
    assert data[34:40] == struct.pack(">HHBB", (2 << 14) | 299, 399, 0, 5)
    assert data[-2:] == b"\x00\x00"


def test_known_2011_layout():
    t = make(np.array([[10, 20, np.pi, 2, 100]]))
    data = encode_iso19794_2(t, "2011")
    assert data[:8] == b"FMR\x00030\x00"
    assert struct.unpack(">IHB", data[8:15]) == (len(data), 1, 0)
    assert struct.unpack(">I", data[15:19])[0] == len(data) - 15
    assert data[19:28] == b"\xff" * 9  # capture time unknown
    assert data[-8:-2] == struct.pack(">HHBB", (2 << 14) | 10, 20, 128, 100)


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 399), st.integers(0, 255),
                              st.sampled_from([0, 1, 2]), st.integers(0, 100)), max_size=60),
    version=st.sampled_from(["2005", "2011"]),
    position=st.integers(0, 10),
    extended=st.binary(max_size=20),
)
def test_decode_then_encode_is_identity(points, version, position, extended):
    m = np.array([(x, y, a * 2 * np.pi / 256, k, q) for x, y, a, k, q in points], np.float64).reshape(-1, 5)
    t = make(m, capture=FingerCapture(finger_position=position, extended_data=extended))
    data = encode_iso19794_2(t, version)
    assert encode_iso19794_2(decode_iso19794_2(data), version) == data
    back = decode_iso19794_2(data)
    np.testing.assert_allclose(back.minutiae, m.astype(np.float32), atol=1e-5)
    assert back.capture.finger_position == position and back.capture.extended_data == extended


def _record(version: str = "2011") -> bytes:
    return encode_iso19794_2(make(np.array([[10, 20, 1.0, 1, 50], [30, 40, 2.0, 2, 60]])), version)


@pytest.mark.parametrize("version", ["2005", "2011"])
@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b[:10],
        lambda b: b"",
        lambda b: b"XMR\x00" + b[4:],  # bad magic
        lambda b: b[:4] + b"999\x00" + b[8:],  # unknown version
        lambda b: b[:8] + struct.pack(">I", len(b) + 5) + b[12:],  # wrong declared length
        lambda b: b + b"\x00",  # trailing garbage
    ],
)
def test_corrupt_records_raise_template_error(version, corrupt):
    with pytest.raises(TemplateError) as info:
        decode_iso19794_2(corrupt(_record(version)))
    assert info.value.code == "template_corrupt"


def test_minutia_outside_image_is_corrupt():
    data = bytearray(_record("2005"))
    data[28:30] = struct.pack(">H", (1 << 14) | 5000)  # x = 5000 in a 300 px wide image
    with pytest.raises(TemplateError):
        decode_iso19794_2(bytes(data))


def test_random_bytes_never_raise_anything_else():
    rng = np.random.default_rng(7)
    good = _record("2011")
    for _ in range(300):
        data = bytearray(good)
        for k in rng.integers(0, len(data), 3):
            data[k] = int(rng.integers(0, 256))
        with contextlib.suppress(TemplateError):  # any other exception fails the test
            decode_iso19794_2(bytes(data))


def test_encode_rejects_what_does_not_fit():
    with pytest.raises(TemplateError):
        encode_iso19794_2(make(np.zeros((256, 5))))
    with pytest.raises(TemplateError):
        encode_iso19794_2(make(np.array([[20000, 5, 0, 1, 1]])))
    with pytest.raises(ValueError):
        encode_iso19794_2(make(np.zeros((1, 5))), "2019")


def test_contactless_impression_survives(prints):
    t = replace(prints["fvc2000_db2_102_1"], capture=FingerCapture(impression_type=8), contactless=True)
    assert decode_iso19794_2(encode_iso19794_2(t, "2011")).contactless
