"""Face sample quality: measures, reasons and a 0–100 score.

Blocking issues put a probe under the quality floor (it is not searched, and the caller is
told why); warnings are reported but the probe is searched. The measures are simple, cheap
and explainable to an officer ("move closer", "hold still", "face the camera", "more light").
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fieldid.core.face.align import eye_centres
from fieldid.core.params import FaceQualityParams
from fieldid.types import Box, QualityIssue, QualityReport

#: Grey chip side on which sharpness is measured, whatever the embedder's chip size.
_SHARPNESS_SIDE = 150


def face_measures(rgb: np.ndarray, box: Box, landmarks: np.ndarray, chip: np.ndarray) -> dict[str, float]:
    """Raw measures: iod_px, roll_deg, yaw_ratio, sharpness, mean_luma, dark/bright fractions."""
    left, right = eye_centres(landmarks)
    eye_vec = right - left
    iod = float(np.hypot(*eye_vec))
    roll = float(math.degrees(math.atan2(eye_vec[1], eye_vec[0])))
    if iod > 0:
        unit = eye_vec / iod
        yaw_ratio = float(np.dot(landmarks[4] - (left + right) / 2.0, unit) / iod)
    else:
        yaw_ratio = 0.0

    grey_chip = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    if grey_chip.shape[0] != _SHARPNESS_SIDE:
        grey_chip = cv2.resize(grey_chip, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    inner = grey_chip[_SHARPNESS_SIDE // 5 : -_SHARPNESS_SIDE // 5, _SHARPNESS_SIDE // 5 : -_SHARPNESS_SIDE // 5]
    sharpness = float(cv2.Laplacian(inner, cv2.CV_64F).var())

    height, width = rgb.shape[:2]
    region = rgb[max(0, box.top) : min(height, box.bottom), max(0, box.left) : min(width, box.right)]
    if region.size == 0:
        region = rgb
    luma = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)
    return {
        "iod_px": iod,
        "roll_deg": roll,
        "yaw_ratio": yaw_ratio,
        "sharpness": sharpness,
        "mean_luma": float(luma.mean()),
        "dark_fraction": float((luma <= FaceQualityParams.dark_level).mean()),
        "bright_fraction": float((luma >= FaceQualityParams.bright_level).mean()),
        "face_width_px": float(box.width),
    }


def assess_face(measures: dict[str, float], params: FaceQualityParams) -> QualityReport:
    """Issues and score from :func:`face_measures`."""
    issues: list[QualityIssue] = []
    iod = measures["iod_px"]
    if iod < params.min_iod_px:
        issues.append(QualityIssue("face_too_small", f"Face too small ({iod:.0f} px between the eyes, "
                                   f"need {params.min_iod_px:.0f}): move closer.", True))
    elif iod < params.warn_iod_px:
        issues.append(QualityIssue("face_small", f"Face small ({iod:.0f} px between the eyes): "
                                   "move closer for a more reliable result.", False))
    sharp = measures["sharpness"]
    if sharp < params.min_sharpness:
        issues.append(QualityIssue("blurred", "Image blurred: hold still and focus on the face.", True))
    elif sharp < params.warn_sharpness:
        issues.append(QualityIssue("slightly_blurred", "Image slightly blurred.", False))
    yaw = abs(measures["yaw_ratio"])
    if yaw > params.max_yaw_ratio:
        issues.append(QualityIssue("turned", "Face turned away: ask the person to face the camera.", True))
    elif yaw > params.warn_yaw_ratio:
        issues.append(QualityIssue("slightly_turned", "Face slightly turned.", False))
    if abs(measures["roll_deg"]) > params.max_roll_deg:
        issues.append(QualityIssue("tilted", "Face strongly tilted: hold the phone upright.", True))
    luma, dark, bright = measures["mean_luma"], measures["dark_fraction"], measures["bright_fraction"]
    if luma < params.min_mean_luma or dark > params.max_clipped_fraction:
        issues.append(QualityIssue("under_exposed", "Face too dark: find more light.", True))
    elif luma > params.max_mean_luma or bright > params.max_clipped_fraction:
        issues.append(QualityIssue("over_exposed", "Face over-exposed: avoid direct sun or flash.", True))
    return QualityReport(score=quality_score(measures, params), issues=tuple(issues), measures=dict(measures))


def quality_score(measures: dict[str, float], params: FaceQualityParams) -> float:
    """0–100: geometric mean of per-measure factors, each 0 at its floor and 1 when comfortable."""

    def ramp(value: float, floor: float, good: float) -> float:
        if good <= floor:
            return 1.0 if value >= floor else 0.0
        return float(np.clip((value - floor) / (good - floor), 0.0, 1.0))

    size = ramp(measures["iod_px"], params.min_iod_px * 0.75, params.warn_iod_px * 1.5)
    sharp = ramp(measures["sharpness"], params.min_sharpness * 0.5, params.warn_sharpness * 2.0)
    pose = ramp(-abs(measures["yaw_ratio"]), -params.max_yaw_ratio * 1.25, -params.warn_yaw_ratio * 0.5)
    luma = measures["mean_luma"]
    centre = (params.min_mean_luma + params.max_mean_luma) / 2.0
    half = (params.max_mean_luma - params.min_mean_luma) / 2.0
    exposure = ramp(-abs(luma - centre), -half * 1.25, -half * 0.5)
    clipped = ramp(-max(measures["dark_fraction"], measures["bright_fraction"]),
                   -params.max_clipped_fraction * 1.25, -params.max_clipped_fraction * 0.3)
    factors = np.array([size, sharp, pose, exposure, clipped]) * 0.95 + 0.05
    return round(float(100.0 * np.exp(np.log(factors).mean())), 1)
