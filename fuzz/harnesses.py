"""Fuzz targets for every parser of outside input. Each ``target_*`` takes bytes and must either
succeed or raise :class:`fieldid.errors.FieldIDError` (a stable, documented error); anything
else — another exception, a hang, a crash — is a bug.

Run one with atheris (coverage-guided)::

    .venv/bin/python fuzz/run.py image -max_total_time=600      # the longer, documented run

``tests/test_fuzz.py`` replays the corpus and runs each target briefly in CI.
"""

from __future__ import annotations

import json

import numpy as np

from fieldid.errors import FieldIDError

_LIMITS = None


def _limits():  # type: ignore[no-untyped-def]
    global _LIMITS
    if _LIMITS is None:
        from fieldid.imaging import ImageLimits

        # small limits keep each run fast; the code paths are those of the defaults
        _LIMITS = ImageLimits(max_bytes=2_000_000, max_pixels=4_000_000)
    return _LIMITS


def target_image(data: bytes) -> None:
    """Safe decode: allow-list, byte/pixel limits, EXIF orientation."""
    from fieldid.imaging import decode_image

    try:
        decoded = decode_image(data, _limits())
    except FieldIDError:
        return
    rgb = decoded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.size > 0


def target_iso(data: bytes) -> None:
    """ISO/IEC 19794-2 finger minutiae records: decode, and what decodes re-encodes byte-exactly."""
    from fieldid.core.finger import decode_iso19794_2, encode_iso19794_2

    try:
        template = decode_iso19794_2(data)
    except FieldIDError:
        return
    version = "2011" if data[4:8] == b"030\x00" else "2005"
    again = decode_iso19794_2(encode_iso19794_2(template, version))
    assert again.count == template.count


def target_calibration(data: bytes) -> None:
    """Calibration files (JSON) an operator may install."""
    from fieldid.calibration_io import calibration_from_dict

    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return
    try:
        cal = calibration_from_dict(body)
    except FieldIDError:
        return
    fmr = cal.fmr(np.linspace(cal.grid[0] - 1, cal.grid[-1] + 1, 7))
    assert np.all((fmr >= 0) & (fmr <= 1))


def target_records(data: bytes) -> None:
    """The records configuration (YAML) naming connected record systems."""
    import yaml

    from fieldid.records.config import parse_records_config

    try:
        raw = yaml.safe_load(data)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError):
        return
    try:
        parse_records_config(raw)
    except FieldIDError:
        return


TARGETS = {"image": target_image, "iso": target_iso, "calibration": target_calibration, "records": target_records}
