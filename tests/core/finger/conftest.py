"""Fingerprint fixtures: four FVC2000 DB2_B prints (two fingers × two impressions)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fieldid.core.finger import extract_finger
from fieldid.types import FingerTemplate

FINGERS = Path(__file__).resolve().parents[2] / "fixtures" / "fingers"


def load_gray(name: str) -> np.ndarray:
    return np.array(Image.open(FINGERS / f"{name}.tif").convert("L"))


@lru_cache(maxsize=8)
def template(name: str) -> FingerTemplate:
    return extract_finger(load_gray(name))


@pytest.fixture(scope="session")
def prints() -> dict[str, FingerTemplate]:
    names = ("fvc2000_db2_101_1", "fvc2000_db2_101_2", "fvc2000_db2_102_1", "fvc2000_db2_102_2")
    return {n: template(n) for n in names}
