"""The package's public surface: every name in ``fieldid.__all__`` resolves, importing the
package loads no model, and every setting is documented."""

from __future__ import annotations

import subprocess
import sys

import fieldid
from fieldid.config import Settings


def test_every_public_name_resolves():
    for name in fieldid.__all__:
        assert getattr(fieldid, name) is not None, name
    assert fieldid.FieldID.__module__ == "fieldid.service"


def test_import_is_cheap_and_loads_no_model():
    code = ("import sys, fieldid; heavy = [m for m in ('dlib', 'cv2', 'faiss', 'onnxruntime', 'fieldid.service') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_every_setting_is_documented():
    undocumented = [name for name, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert not undocumented, f"settings without a description: {undocumented}"
