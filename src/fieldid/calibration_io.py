"""Reading and writing calibration files, and finding the one in force for a model.

A calibration file is JSON (``format: fieldid-calibration/1``) holding the table and what it
was measured on. The package ships one per built-in model under ``fieldid/data``; operators
may put their own (``fieldid calibrate``) in ``Settings.calibration_dir``.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fieldid.core.calibration import GRID_POINTS, Calibration
from fieldid.core.fusion import fuse_calibrations
from fieldid.errors import CalibrationFileError, ModelUnavailable

FORMAT = "fieldid-calibration/1"
_ARRAYS = ("grid", "fmr_point", "fmr_low", "fmr_high", "fnmr_point", "llr_grid")
MAX_FILE_BYTES = 5 * 1024 * 1024


def calibration_to_dict(cal: Calibration) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT,
        "model_id": cal.model_id,
        "dataset": cal.dataset,
        "created": cal.created,
        "version": cal.version,
        "impostor_pairs": cal.impostor_pairs,
        "genuine_pairs": cal.genuine_pairs,
        "tail_slope": cal.tail_slope,
        "tail_anchor": list(cal.tail_anchor),
        "notes": cal.notes,
    }
    if cal.effective_impostor_pairs is not None:
        body["effective_impostor_pairs"] = float(f"{cal.effective_impostor_pairs:.9g}")
    for name in _ARRAYS:
        body[name] = [float(f"{x:.9g}") for x in getattr(cal, name)]
    return body


def _effective(value: Any) -> float | None:
    if value is None:
        return None
    n = float(value)
    if not (math.isfinite(n) and n >= 1):
        raise CalibrationFileError("effective_impostor_pairs must be a number ≥ 1.")
    return n


def calibration_from_dict(body: Any) -> Calibration:
    """Validate and load; any problem raises :class:`CalibrationFileError`."""
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise CalibrationFileError(f"Not a calibration file (expected format {FORMAT!r}).")
    try:
        arrays = {name: np.asarray(body[name], dtype=np.float64) for name in _ARRAYS}
        n = len(arrays["grid"])
        if not 2 <= n <= 4 * GRID_POINTS or any(a.shape != (n,) for a in arrays.values()):
            raise CalibrationFileError("Calibration arrays must be 1-d and of equal length.")
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise CalibrationFileError("Calibration arrays contain NaN or infinity.")
        if np.any(np.diff(arrays["grid"]) <= 0):
            raise CalibrationFileError("Calibration score grid must be strictly increasing.")
        for name in ("fmr_point", "fmr_low", "fmr_high", "fnmr_point"):
            a = arrays[name]
            if a.min() < 0 or a.max() > 1:
                raise CalibrationFileError(f"{name} must lie in [0, 1].")
        if np.any(np.diff(arrays["fmr_point"]) > 1e-12) or np.any(np.diff(arrays["fnmr_point"]) < -1e-12):
            raise CalibrationFileError("FMR must fall and FNMR rise with the score.")
        slope = float(body["tail_slope"])
        anchor = tuple(float(x) for x in body["tail_anchor"])
        if len(anchor) != 2 or not (math.isfinite(slope) and slope < 0 and all(map(math.isfinite, anchor))):
            raise CalibrationFileError("Calibration tail model is invalid.")
        cal = Calibration(
            model_id=str(body["model_id"]),
            dataset=str(body["dataset"]),
            created=str(body["created"]),
            impostor_pairs=int(body["impostor_pairs"]),
            genuine_pairs=int(body["genuine_pairs"]),
            tail_slope=slope,
            tail_anchor=(anchor[0], anchor[1]),
            notes=dict(body.get("notes") or {}),
            effective_impostor_pairs=_effective(body.get("effective_impostor_pairs")),
            **arrays,
        )
    except CalibrationFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationFileError(f"Calibration file is invalid: {type(exc).__name__}: {exc}") from None
    if cal.impostor_pairs < 1 or cal.genuine_pairs < 1:
        raise CalibrationFileError("Calibration file has no comparison counts.")
    return cal


def save_calibration(cal: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration_to_dict(cal), indent=1))


def load_calibration(path: Path) -> Calibration:
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CalibrationFileError("Calibration file is too large.")
    try:
        body = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CalibrationFileError(f"Calibration file is not JSON: {exc}") from None
    return calibration_from_dict(body)


def shipped_file_name(model_id: str) -> str:
    return "calibration-" + model_id.replace("@", "-").replace("/", "_") + ".json"


def find_calibration(model_id: str, override_dir: Path | None = None) -> Calibration:
    """The calibration in force for ``model_id``: an operator file first, else the shipped one."""
    name = shipped_file_name(model_id)
    if override_dir is not None and (Path(override_dir) / name).is_file():
        return load_calibration(Path(override_dir) / name)
    shipped = resources.files("fieldid") / "data" / name
    if shipped.is_file():
        return calibration_from_dict(json.loads(shipped.read_bytes()))
    raise ModelUnavailable(
        f"No calibration for model {model_id}: run `fieldid calibrate faces --manifest ...` and put "
        f"{name} in the calibration directory. FieldID never shows uncalibrated scores.",
        model_id=model_id,
    )


class Calibrations:
    """The calibrations in force, read once per model id (and fused tables once per combination)."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self._cache: dict[str, Calibration] = {}

    def get(self, model_id: str) -> Calibration:
        cal = self._cache.get(model_id)
        if cal is None:
            cal = find_calibration(model_id, self.override_dir)
            self._cache[model_id] = cal
        return cal

    def fused(self, calibrations: list[Calibration]) -> Calibration:
        """The table of the summed log-likelihood ratios of independent comparisons, one per
        calibration (itself when there is only one)."""
        if len(calibrations) == 1:
            return calibrations[0]
        key = "fused:" + "+".join(c.version for c in calibrations)
        if key not in self._cache:
            self._cache[key] = fuse_calibrations(calibrations,
                                                 model_id="+".join(c.model_id for c in calibrations))
        return self._cache[key]
