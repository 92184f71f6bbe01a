"""Lazy loading of the face models chosen in the settings."""

from __future__ import annotations

import threading
from functools import cached_property

from fieldid.config import Settings
from fieldid.core.face.detect import FaceDetector
from fieldid.core.face.embed import Embedder
from fieldid.core.face.pipeline import FaceModels


class FaceModelLoader:
    """Builds :class:`FaceModels` on first use (never at import or construction)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._models: FaceModels | None = None

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def get(self) -> FaceModels:
        if self._models is None:
            with self._lock:
                if self._models is None:
                    self._models = self._load()
        return self._models

    @cached_property
    def embedder_model_id(self) -> str:
        """The embedder's model id (loads the models if needed)."""
        return self.get().embedder.model_id

    def _load(self) -> FaceModels:
        from fieldid.models.dlib_models import CnnDetector, DlibLandmarks, HogDetector

        s = self._settings
        detectors: list[FaceDetector] = []
        if s.face_detector in ("hog", "hog+cnn"):
            detectors.append(HogDetector())
        if s.face_detector in ("cnn", "hog+cnn"):
            detectors.append(CnnDetector())
        embedder: Embedder
        if s.face_embedder == "onnx":
            from fieldid.models.onnx_embedder import OnnxEmbedder

            assert s.onnx_model_path is not None  # checked by Settings
            embedder = OnnxEmbedder(
                s.onnx_model_path, mean=s.onnx_input_mean, std=s.onnx_input_std, bgr=s.onnx_input_bgr
            )
        else:
            from fieldid.models.dlib_models import DlibEmbedder

            embedder = DlibEmbedder()
        if s.face_flip_average:
            from fieldid.core.face.embed import FlipAveraged

            embedder = FlipAveraged(embedder)
        landmarks68 = None
        if s.face_views != "lm5" and embedder.alignment.kind == "dlib":
            from fieldid.core.face.embed import ChipView, ViewAveraged

            if s.face_views == "lm5+lm68":
                embedder = ViewAveraged(embedder, (ChipView(5), ChipView(68)))
                landmarks68 = DlibLandmarks(68)
            else:  # two paddings of the 5-point chip
                embedder = ViewAveraged(embedder, (ChipView(5, 0.25), ChipView(5, 0.35)))
        return FaceModels(detectors=tuple(detectors), landmarks=DlibLandmarks(), embedder=embedder,
                          landmarks68=landmarks68)
