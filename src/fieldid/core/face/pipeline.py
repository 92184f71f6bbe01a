"""The face extractor: one short function calling single-purpose stages in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fieldid.core.face.align import align_views
from fieldid.core.face.detect import FaceDetector, choose_face, detect_faces
from fieldid.core.face.embed import Embedder, average_views
from fieldid.core.face.quality import assess_face, face_measures
from fieldid.core.params import FaceParams
from fieldid.errors import ModelUnavailable, NoFaceFound
from fieldid.types import Box, FaceTemplate, frozen_array

#: Optional debugging sink: receives (stage name, intermediate value). Never printed.
TraceSink = Callable[[str, object], None]


class LandmarkLocator(Protocol):
    def locate(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """(points, 2) float32 landmark coordinates (dlib point order) of the face in ``box``."""
        ...


@dataclass(frozen=True)
class FaceModels:
    """The loaded models an extraction needs, passed in (never global)."""

    detectors: Sequence[FaceDetector]
    landmarks: LandmarkLocator  # dlib's 5 points: quality measures and the default chip
    embedder: Embedder
    #: dlib's 68 points, for embedders whose alignment has a 68-point view.
    landmarks68: LandmarkLocator | None = None


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
    spec = models.embedder.alignment
    by_count = {5: landmarks}
    if any(view.landmarks == 68 for view in spec.views) and spec.kind == "dlib":
        if models.landmarks68 is None:
            raise ModelUnavailable(f"{models.embedder.model_id} needs dlib's 68-point landmark model.")
        by_count[68] = np.asarray(models.landmarks68.locate(rgb, chosen.box), dtype=np.float32)
    chips = align_views(rgb, by_count, chosen.box, spec, params.align)
    sink("chip", chips[0])
    quality = assess_face(face_measures(rgb, chosen.box, landmarks, chips[0]), params.quality)
    sink("quality", quality)
    vectors = models.embedder.embed(chips, jitters=params.jitters if jitters is None else jitters)
    embedding = average_views(vectors)
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
