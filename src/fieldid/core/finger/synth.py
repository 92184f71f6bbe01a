"""Contactless-style renderings of contact prints, for tests and benchmarks (not the pipeline).

No contactless data set is available here, so phone-like finger photos are *made* from
contact prints, and the figures measured on them are labelled as such. Each step imitates
one thing that differs between a phone photo and a scanner image:

1. polarity: ridges bright on skin (a photo sees ridge tops lit, valleys in shade);
2. scale: resized by a random factor in [0.6, 1.6] (any distance from the lens);
3. perspective: a random homography (corners moved by up to 6 % of the size: a tilted tip);
4. colour: grey mapped onto a random skin tone; uneven light: a smooth random gain field
   (0.55–1.3) and a specular blob;
5. background: a skin-toned (or other) smooth background around the print area;
6. blur: Gaussian σ in [0.5, 1.2] px after scaling (focus, motion);
7. JPEG at quality 70–90 (the app's upload).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fieldid.core.finger.segment import segment_print
from fieldid.core.params import FingerSegmentParams


@dataclass(frozen=True)
class RenderSettings:
    scale_range: tuple[float, float] = (0.6, 1.6)
    perspective: float = 0.06
    gain_range: tuple[float, float] = (0.55, 1.3)
    blur_range: tuple[float, float] = (0.5, 1.2)
    jpeg_range: tuple[int, int] = (70, 90)
    margin: float = 0.25  # background added on each side, share of the print size
    background: tuple[int, int, int] | None = None  # RGB; None = another random skin tone


#: Skin tones (RGB) from dark to light; the background takes a different, darker/lighter one.
SKIN_TONES = ((92, 58, 40), (141, 85, 60), (198, 134, 104), (224, 172, 140), (241, 194, 170))


def render_contactless(
    gray: np.ndarray, rng: np.random.Generator, settings: RenderSettings | None = None
) -> tuple[np.ndarray, dict[str, float]]:
    """A phone-like RGB photo of the contact print ``gray`` and the parameters drawn."""
    s = settings or RenderSettings()
    mask = segment_print(gray, FingerSegmentParams(erode_px=0)).astype(np.float32)
    ridge = 1.0 - gray.astype(np.float32) / 255.0  # ridges bright
    ridge = (ridge - ridge[mask > 0].mean()) / (ridge[mask > 0].std() + 1e-6) if mask.any() else ridge
    h, w = gray.shape
    pad = int(s.margin * max(h, w))
    ridge = cv2.copyMakeBorder(ridge, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    soft = cv2.GaussianBlur(
        cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0), (0, 0), 6
    )
    scale = float(rng.uniform(*s.scale_range))
    size = ridge.shape[1], ridge.shape[0]
    jitter = rng.uniform(-s.perspective, s.perspective, (4, 2)) * np.array(size)
    src = np.float32([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]])
    dst = (src + jitter.astype(np.float32)) * scale
    out_size = (int(size[0] * scale * 1.05), int(size[1] * scale * 1.05))
    homography = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    ridge = cv2.warpPerspective(ridge, homography, out_size, flags=cv2.INTER_LINEAR)
    soft = cv2.warpPerspective(soft, homography, out_size, flags=cv2.INTER_LINEAR)
    oh, ow = ridge.shape
    skin_i, back_i = rng.choice(len(SKIN_TONES), 2, replace=False)
    skin = np.array(SKIN_TONES[skin_i], np.float32)
    back = np.array(SKIN_TONES[back_i], np.float32) * rng.uniform(0.7, 1.1)
    if s.background is not None:
        back = np.array(s.background, np.float32)
    gain_grid = rng.uniform(*s.gain_range, (3, 3)).astype(np.float32)
    gain = cv2.resize(gain_grid, (ow, oh), interpolation=cv2.INTER_CUBIC)
    cy, cx = rng.uniform(0.2, 0.8) * oh, rng.uniform(0.2, 0.8) * ow
    yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    glare = 0.35 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.12 * max(oh, ow)) ** 2))
    texture = 0.22 * ridge  # ridge contrast on skin: ±22 % of the skin brightness
    finger = skin[None, None, :] * (1.0 + texture)[..., None] * gain[..., None] + 255 * glare[..., None]
    photo = soft[..., None] * finger + (1 - soft[..., None]) * back[None, None, :]
    sigma = float(rng.uniform(*s.blur_range))
    photo = cv2.GaussianBlur(np.clip(photo, 0, 255), (0, 0), sigma)
    quality = int(rng.integers(s.jpeg_range[0], s.jpeg_range[1] + 1))
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(photo.astype(np.uint8), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    rgb = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return rgb, {
        "scale": scale,
        "blur_sigma": sigma,
        "jpeg_quality": float(quality),
        "skin_tone": float(skin_i),
        "background_tone": float(back_i),
    }
