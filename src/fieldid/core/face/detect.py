"""Face detection orchestration and the choice of the face to use.

The detectors themselves are model objects (see :mod:`fieldid.models.dlib_models`) passed in
through the :class:`FaceDetector` protocol; this module only decides how to call them:
the first (fast) detector runs, with more upsampling if it finds nothing; the next (e.g. the
CNN) runs when the first found nothing or only a doubtful face (weak and off-centre, as when
the person framed is turned and a bystander's face is found instead); results are merged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from fieldid.core.params import FaceDetectParams
from fieldid.types import Box, FaceDetection


class FaceDetector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray, upsample: int) -> list[FaceDetection]:
        """Faces in ``rgb`` (uint8 H×W×3), boxes in that image's pixels."""
        ...


def detect_faces(
    rgb: np.ndarray, detectors: Sequence[FaceDetector], params: FaceDetectParams
) -> list[FaceDetection]:
    """All faces found, in original image pixels (see the module docstring for the order)."""
    found: list[FaceDetection] = []
    for detector in detectors:
        more = _run(detector, rgb, params)
        found = _merge(found, more, params.same_face_iou)
        if found and not _doubtful(found, rgb.shape, params):
            break
    return found


def _run(detector: FaceDetector, rgb: np.ndarray, params: FaceDetectParams) -> list[FaceDetection]:
    is_cnn = detector.name == "cnn"
    small, factor = _downscale(rgb, params.cnn_max_side if is_cnn else params.detect_max_side)
    tries = (params.cnn_upsample, params.cnn_retry_upsample) if is_cnn else (
        params.hog_upsample, params.hog_retry_upsample)
    for i, upsample in enumerate(tries):
        if i and upsample <= tries[0]:
            break
        hits = detector.detect(small, upsample)
        if hits:
            return [_rescale(d, 1.0 / factor) for d in hits]
    return []


def _doubtful(found: Sequence[FaceDetection], shape: tuple[int, ...], params: FaceDetectParams) -> bool:
    best, _ = choose_face(found, shape, params)
    return best.score < params.doubtful_score and _offcentre(best.box, shape) > params.doubtful_offcentre


def _merge(first: list[FaceDetection], second: list[FaceDetection], iou_limit: float) -> list[FaceDetection]:
    merged = list(first)
    for d in second:
        if all(_iou(d.box, m.box) <= iou_limit for m in merged):
            merged.append(d)
    return merged


def _iou(a: Box, b: Box) -> float:
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / float(a.area + b.area - inter)


def _offcentre(box: Box, shape: tuple[int, ...]) -> float:
    height, width = shape[:2]
    bx, by = box.center
    return math.hypot(bx - width / 2.0, by - height / 2.0) / (math.hypot(width / 2.0, height / 2.0) or 1.0)


def choose_face(
    detections: Sequence[FaceDetection], image_shape: tuple[int, ...], params: FaceDetectParams
) -> tuple[FaceDetection, tuple[FaceDetection, ...]]:
    """The face to use (central, then large: see FaceDetectParams) and the others, in order."""
    if not detections:
        raise ValueError("choose_face needs at least one detection")

    def preference(d: FaceDetection) -> float:
        return d.box.width * max(0.05, 1.0 - params.centrality_weight * _offcentre(d.box, image_shape))

    ranked = sorted(detections, key=preference, reverse=True)
    return ranked[0], tuple(ranked[1:])


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return rgb, 1.0
    factor = max_side / float(longest)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), factor


def _rescale(d: FaceDetection, factor: float) -> FaceDetection:
    # Boxes may extend past the image border (a face cut by the frame); the landmark model
    # handles that, so they are not clipped.
    if factor == 1.0:
        return d
    return FaceDetection(box=d.box.scaled(factor), score=d.score, detector=d.detector, pose_index=d.pose_index)
