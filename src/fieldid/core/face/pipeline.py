"""The face extractor: one short function calling single-purpose stages in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fieldid.core.face.align import align_face
from fieldid.core.face.detect import FaceDetector, choose_face, detect_faces
from fieldid.core.face.embed import Embedder
from fieldid.core.face.quality import assess_face, face_measures
from fieldid.core.params import FaceParams
from fieldid.errors import NoFaceFound
from fieldid.types import Box, FaceTemplate, frozen_array

#: Optional debugging sink: receives (stage name, intermediate value). Never printed.
TraceSink = Callable[[str, object], None]


class LandmarkLocator(Protocol):
    def locate(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """(5, 2) float32 landmark coordinates (dlib 5-point order) of the face in ``box``."""
        ...


@dataclass(frozen=True)
class FaceModels:
    """The loaded models an extraction needs, passed in (never global)."""

    detectors: Sequence[FaceDetector]
    landmarks: LandmarkLocator
    embedder: Embedder


def extract_face(
    rgb: np.ndarray,
    models: FaceModels,
    params: FaceParams | None = None,
    *,
    jitters: int | None = None,
    trace: TraceSink | None = None,
) -> FaceTemplate:
    """Extract the template of the face to use in ``rgb`` (H×W×3 uint8).

    Raises :class:`~fieldid.errors.NoFaceFound` when no face is detected. A face under the
    quality floor still yields a template: the caller's policy decides what to do with it
    (``template.quality.acceptable``).
    """
    params = params or FaceParams()
    sink = trace or _no_trace
    detections = detect_faces(rgb, models.detectors, params.detect)
    sink("detections", detections)
    if not detections:
        raise NoFaceFound("No face was found in the image.", detectors=[d.name for d in models.detectors])
    chosen, others = choose_face(detections, rgb.shape, params.detect)
    sink("chosen", chosen)
    landmarks = np.asarray(models.landmarks.locate(rgb, chosen.box), dtype=np.float32)
    sink("landmarks", landmarks)
    chip = align_face(rgb, landmarks, chosen.box, models.embedder.alignment, params.align)
    sink("chip", chip)
    quality = assess_face(face_measures(rgb, chosen.box, landmarks, chip), params.quality)
    sink("quality", quality)
    embedding = models.embedder.embed(chip[np.newaxis], jitters=params.jitters if jitters is None else jitters)[0]
    sink("embedding", embedding)
    return FaceTemplate(
        embedding=frozen_array(embedding, np.float32),
        model=models.embedder.model_id,
        quality=quality,
        detection=chosen,
        landmarks=frozen_array(landmarks, np.float32),
        other_faces=others,
    )


def _no_trace(stage: str, value: object) -> None:
    return None
