"""Extraction: image bytes → templates, for searches and enrolment alike.

Faces run in this process, or in worker processes once a server starts them
(:class:`~fieldid.extraction_pool.ExtractionPool`); fingers run here. Nothing is stored,
searched or audited: the callers decide what happens to a template.
"""

from __future__ import annotations

import cv2
import numpy as np

from fieldid.config import Settings
from fieldid.core.face import extract_face
from fieldid.core.params import FaceParams
from fieldid.extraction_pool import ExtractionPool
from fieldid.fingers import PreparedFinger, prepare_fingers
from fieldid.imaging import DecodedImage, decode_image, encode_jpeg
from fieldid.inputs import FingerInput, PreparedSample
from fieldid.models.registry import FaceModelLoader
from fieldid.types import FaceTemplate

#: Longest side of the face thumbnail kept with an enrolled sample (for reviewers' candidate cards).
THUMBNAIL_SIDE = 200


class ExtractionService:
    def __init__(self, settings: Settings, face_models: FaceModelLoader,
                 face_params: FaceParams | None = None) -> None:
        self.settings = settings
        self.face_models = face_models
        self.face_params = face_params or FaceParams()
        #: Face extraction worker processes, started by a server (:meth:`start_workers`).
        self.pool: ExtractionPool | None = None

    def face_model_id(self) -> str:
        return self.face_models.embedder_model_id

    @property
    def models_ready(self) -> bool:
        """The face models are loaded (here, or in every worker)."""
        return self.face_models.loaded or bool(self.pool and self.pool.ready)

    def start_workers(self, workers: int) -> ExtractionPool | None:
        """Extract faces in ``workers`` processes from now on (a server's choice: a one-shot
        command or a bulk-enrolment worker would spend longer starting them than it saves)."""
        if workers > 0 and self.pool is None:
            self.pool = ExtractionPool(self.settings, self.face_params, workers)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def face(self, data: bytes, *, jitters: int = 0) -> tuple[DecodedImage, FaceTemplate]:
        """Decode and extract the one face of an image (raises on bad input or no face)."""
        if self.pool is not None:  # on another core
            return self.pool.extract(data, jitters)
        decoded = decode_image(data, self.settings.image_limits)
        template = extract_face(decoded.rgb, self.face_models.get(), self.face_params, jitters=jitters)
        return decoded, template

    def measure_face(self, data: bytes) -> tuple[DecodedImage, FaceTemplate]:
        """Decode and extract a face for capture guidance: nothing is searched, stored or audited
        (the template is discarded by the caller)."""
        return self.face(data)

    def prepare_sample(self, data: bytes, *, jitters: int = 0) -> PreparedSample:
        """Decode and extract one enrolment image (raises on bad input or no face)."""
        decoded, template = self.face(data, jitters=jitters)
        return PreparedSample(decoded.sha256, decoded.format, face_thumbnail(decoded.rgb, template), template)

    def fingers(self, finger: FingerInput) -> list[PreparedFinger]:
        """Decode and extract one finger image; a contactless photo may give several prints."""
        return prepare_fingers(finger, self.settings)


def face_thumbnail(rgb: np.ndarray, template: FaceTemplate) -> bytes:
    box = template.detection.box
    margin = int(0.45 * max(box.width, box.height))
    h, w = rgb.shape[:2]
    crop = rgb[max(0, box.top - margin) : min(h, box.bottom + margin),
               max(0, box.left - margin) : min(w, box.right + margin)]
    if crop.size == 0:
        crop = rgb
    scale = THUMBNAIL_SIDE / float(max(crop.shape[:2]))
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    return encode_jpeg(crop, 85)
