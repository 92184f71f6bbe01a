"""Sample quality, 0–100, with reasons.

Contact prints: an NFIQ 2-style score from the features that carry most of NFIQ 2's weight
(ISO/IEC 29794-4): orientation certainty (OCL), ridge clarity (the spectral peak share, a
stand-in for frequency-domain analysis), usable print area and minutiae count and quality.
It is *not* an NFIQ 2 score; it orders samples the same way on the dev data.

Contactless photos: NFIQ 2 is not valid for them (it was trained on contact prints), so a
separate measure scores what goes wrong with phone photos — ridges not resolved (blur, too
far, out of focus), uneven light, a small fingertip — with issue codes of their own.
"""

from __future__ import annotations

import numpy as np

from fieldid.core.params import ContactlessParams, FingerQualityParams
from fieldid.types import QualityIssue, QualityReport


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def contact_measures(
    coherence: np.ndarray,
    mask: np.ndarray,
    clarity: float,
    reliable_share: float,
    minutiae_quality: np.ndarray,
) -> dict[str, float]:
    inside = mask.astype(bool)
    return {
        "area_px": float(inside.sum()),
        "orientation_certainty": float(coherence[inside].mean()) if inside.any() else 0.0,
        "ridge_clarity": float(clarity),
        "reliable_share": float(reliable_share),
        "minutiae": float(len(minutiae_quality)),
        "minutiae_quality": float(np.mean(minutiae_quality)) if len(minutiae_quality) else 0.0,
    }


def contact_score(m: dict[str, float]) -> float:
    """Weighted sum of ramps over each measure's useful range (weights sum to 100)."""
    return round(
        30 * _ramp(m["orientation_certainty"], 0.35, 0.85)
        + 20 * _ramp(m["ridge_clarity"], 0.15, 0.5)
        + 20 * _ramp(m["area_px"], 15000, 70000)
        + 20 * _ramp(m["minutiae"], 8, 40)
        + 10 * _ramp(m["minutiae_quality"], 30, 80),
        1,
    )


def assess_contact(measures: dict[str, float], params: FingerQualityParams) -> QualityReport:
    score = contact_score(measures)
    issues: list[QualityIssue] = []
    n = measures["minutiae"]
    if n < params.min_minutiae:
        issues.append(
            QualityIssue(
                "too_few_minutiae",
                f"Only {n:.0f} minutiae found; at least {params.min_minutiae} are needed.",
                True,
            )
        )
    elif n < params.warn_minutiae:
        issues.append(QualityIssue("few_minutiae", f"Only {n:.0f} minutiae found.", False))
    area = measures["area_px"]
    if area < params.min_area_px:
        issues.append(
            QualityIssue(
                "print_too_small",
                "The print area is too small; press the whole fingertip on the scanner.",
                True,
            )
        )
    elif area < params.warn_area_px:
        issues.append(QualityIssue("print_small", "The print area is small.", False))
    if score < params.min_score:
        issues.append(
            QualityIssue("print_unclear", "Ridges are unclear (dry, wet, smudged or scarred).", True)
        )
    elif score < params.warn_score:
        issues.append(QualityIssue("print_poor", "Ridges are partly unclear.", False))
    return QualityReport(score=score, issues=tuple(issues), measures=measures)


def contactless_measures(
    gray: np.ndarray,
    mask: np.ndarray,
    clarity: float,
    reliable_share: float,
    scale: float,
    minutiae_count: int,
) -> dict[str, float]:
    """Measures of the photo *after* rescaling to ~ 500 ppi (``scale`` = applied factor)."""
    inside = mask.astype(bool)
    pixels = gray[inside].astype(np.float32) if inside.any() else np.zeros(1, np.float32)
    # Illumination: spread of the low-pass brightness across the tip, relative to its mean.
    h, w = gray.shape
    blocks = []
    for y in range(0, h - 31, 32):
        for x in range(0, w - 31, 32):
            if inside[y : y + 32, x : x + 32].mean() > 0.8:
                blocks.append(float(gray[y : y + 32, x : x + 32].mean()))
    unevenness = float(np.std(blocks) / (np.mean(blocks) + 1e-6)) if len(blocks) >= 2 else 0.0
    return {
        "area_px": float(inside.sum()),
        "ridge_clarity": float(clarity),
        "reliable_share": float(reliable_share),
        "scale": float(scale),
        "illumination_unevenness": unevenness,
        "contrast": float(pixels.std()),
        "minutiae": float(minutiae_count),
    }


def assess_contactless(
    measures: dict[str, float], params: ContactlessParams, quality: FingerQualityParams
) -> QualityReport:
    score = round(
        40 * _ramp(measures["ridge_clarity"], params.min_ridge_clarity, 0.5)
        + 20 * _ramp(measures["reliable_share"], 0.2, 0.8)
        + 20 * _ramp(measures["area_px"], 15000, 70000)
        + 20 * _ramp(measures["minutiae"], 8, 40),
        1,
    )
    issues: list[QualityIssue] = []
    if measures["ridge_clarity"] < params.min_ridge_clarity:
        issues.append(
            QualityIssue(
                "contactless_ridges_unresolved",
                "Ridges are not visible: hold the phone closer, focus on the fingertip, hold still.",
                True,
            )
        )
    if measures["scale"] > 2.5:
        issues.append(
            QualityIssue(
                "contactless_too_far", "The finger is too small in the photo; move the phone closer.", False
            )
        )
    if measures["illumination_unevenness"] > 0.35:
        issues.append(
            QualityIssue(
                "contactless_uneven_light", "Light on the fingertip is uneven (glare or shadow).", False
            )
        )
    if measures["area_px"] < quality.min_area_px:
        issues.append(
            QualityIssue("contactless_tip_too_small", "Too little of the fingertip is visible.", True)
        )
    if measures["minutiae"] < quality.min_minutiae:
        issues.append(QualityIssue("too_few_minutiae", "Too few minutiae were found in the photo.", True))
    if score < params.min_score:
        issues.append(QualityIssue("contactless_poor", "The finger photo is too poor to search.", True))
    elif score < params.warn_score:
        issues.append(QualityIssue("contactless_fair", "The finger photo is of fair quality.", False))
    return QualityReport(score=score, issues=tuple(issues), measures=measures)
