"""An ArcFace-style face embedder from an ONNX file the operator supplies.

The file is never downloaded: ``Settings.onnx_model_path`` points to it. The input layout
(NCHW or NHWC) and size are read from the model; pixels are scaled ``(x − mean) / std``
(ArcFace/InsightFace: mean 127.5, std 127.5, RGB). The model id includes a hash of the
file, so templates from different weights never share an index.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from fieldid.core.face.embed import AlignmentSpec, l2_normalize
from fieldid.errors import ModelUnavailable


class OnnxEmbedder:
    def __init__(self, path: Path, *, mean: float = 127.5, std: float = 127.5, bgr: bool = False) -> None:
        path = Path(path)
        if not path.is_file():
            raise ModelUnavailable(f"ONNX face model not found at {path}.")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 0
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any load failure means the model is unusable
            raise ModelUnavailable(f"ONNX face model {path.name} could not be loaded: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        shape = list(model_input.shape)
        if len(shape) != 4:
            raise ModelUnavailable(f"ONNX face model input must be 4-d, got {shape}.")
        self._nhwc = shape[3] == 3
        side = shape[1] if self._nhwc else shape[2]
        self._size = int(side) if isinstance(side, int) and side > 0 else 112
        self._input = model_input.name
        self._mean, self._std, self._bgr = float(mean), float(std), bool(bgr)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self.model_id = f"onnx-{path.stem}@{digest}"
        self.alignment = AlignmentSpec(kind="arcface", size=self._size)
        self._lock = threading.Lock()
        probe = self._run(np.zeros((1, self._size, self._size, 3), dtype=np.uint8))
        if probe.ndim != 2:
            raise ModelUnavailable(f"ONNX face model output must be (n, dim), got {probe.shape}.")
        self.dim = int(probe.shape[1])

    def _run(self, chips: np.ndarray) -> np.ndarray:
        x = chips[..., ::-1] if self._bgr else chips
        x = (x.astype(np.float32) - self._mean) / self._std
        if not self._nhwc:
            x = np.transpose(x, (0, 3, 1, 2))
        with self._lock:
            (out,) = self._session.run(None, {self._input: np.ascontiguousarray(x)})[:1]
        return np.asarray(out, dtype=np.float32).reshape(len(chips), -1)

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        chips = np.asarray(chips, dtype=np.uint8)
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if jitters > 1:
            # Horizontal flip is the standard test-time augmentation for ArcFace models.
            return l2_normalize(self._run(chips) + self._run(chips[:, :, ::-1].copy()))
        return l2_normalize(self._run(chips))
