"""Alignment: warp the face to the canonical chip an embedder was trained on."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import dlib
import numpy as np

from fieldid.core.face.embed import AlignmentSpec
from fieldid.core.params import ARCFACE_TEMPLATE_112, FaceAlignParams
from fieldid.types import Box


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the two eyes from dlib's 5 points, ordered image-left then image-right.

    dlib's 5-point model gives two corners per eye (points 0–1 and 2–3) and the nose base (4).
    """
    a = landmarks[0:2].mean(axis=0)
    b = landmarks[2:4].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


def align_face(
    rgb: np.ndarray, landmarks: np.ndarray, box: Box, spec: AlignmentSpec, params: FaceAlignParams
) -> np.ndarray:
    """The aligned RGB chip for an embedder with alignment ``spec``."""
    if spec.kind == "dlib":
        return align_dlib(rgb, landmarks, box, spec.size or params.dlib_chip_size, params.dlib_padding)
    if spec.kind == "arcface":
        return align_arcface(rgb, landmarks, spec.size or params.arcface_chip_size)
    raise ValueError(f"unknown alignment kind {spec.kind!r}")


def align_views(
    rgb: np.ndarray, landmarks: Mapping[int, np.ndarray], box: Box, spec: AlignmentSpec,
    params: FaceAlignParams,
) -> np.ndarray:
    """The (views, size, size, 3) chips of ``spec.views``; ``landmarks`` maps a landmark count
    (5, 68) to that set's points. ArcFace-style alignment always cuts one chip from the 5 points."""
    if spec.kind != "dlib":
        return align_face(rgb, landmarks[5], box, spec, params)[np.newaxis]
    size = spec.size or params.dlib_chip_size
    chips = []
    for view in spec.views:
        if view.landmarks not in landmarks:
            raise ValueError(f"a {view.landmarks}-point view needs {view.landmarks} landmarks")
        padding = params.dlib_padding if view.padding is None else view.padding
        chips.append(align_dlib(rgb, landmarks[view.landmarks], box, size, padding))
    return np.stack(chips)


def align_dlib(rgb: np.ndarray, landmarks: np.ndarray, box: Box, size: int, padding: float) -> np.ndarray:
    """dlib's own chip (the ResNet model's training alignment), from 5 or 68 dlib landmarks."""
    rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
    parts = [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks]
    shape = dlib.full_object_detection(rect, parts)
    details = dlib.get_face_chip_details(shape, size=size, padding=padding)
    return np.ascontiguousarray(dlib.extract_image_chip(np.ascontiguousarray(rgb), details))


def align_arcface(rgb: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """Similarity warp of (eye, eye, nose base) onto the ArcFace 112×112 template."""
    left, right = eye_centres(landmarks)
    src = np.array([left, right, landmarks[4]], dtype=np.float32)
    dst = np.array(ARCFACE_TEMPLATE_112, dtype=np.float32) * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on a line): fall back to a plain crop
        matrix = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
