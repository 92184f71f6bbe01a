"""Orientation field and ridge period.

Orientation: the gradient structure tensor averaged over ~ two ridge periods; ridges run
perpendicular to the dominant gradient. Angles are in the *image frame* (x right, y down,
radians in [0, π)), a direction vector being (cos θ, sin θ). The coherence (0–1) says how
one-directional the gradients are: ~ 1 on clean parallel ridges, low on smudges, scars and
background.

Ridge period: the peak of the 2-D spectrum of overlapping windows (zero-padded for
sub-bin precision), kept where one peak (one orientation, one period) holds a clear share
of the energy in the band of plausible periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fieldid.core.params import FingerFrequencyParams, FingerOrientParams


@dataclass(frozen=True)
class OrientationField:
    theta: np.ndarray  # (H, W) float32 ridge direction, image frame, [0, π)
    coherence: np.ndarray  # (H, W) float32 in [0, 1]


@dataclass(frozen=True)
class RidgePeriod:
    period: np.ndarray  # (H, W) float32 px, filled everywhere
    median: float  # median over reliable windows inside the mask, px
    clarity: float  # median spectral peak share of the windows inside the mask (0–1)
    reliable_share: float  # share of in-mask windows with a clear peak
    clarity_map: np.ndarray | None = None  # (H, W) float32 local peak share, for minutiae


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    size = int(2 * round(3 * sigma) + 1)
    return cv2.GaussianBlur(a, (size, size), sigma, borderType=cv2.BORDER_REFLECT)


def orientation_field(image: np.ndarray, params: FingerOrientParams) -> OrientationField:
    f = _blur(image.astype(np.float32), params.gradient_sigma)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    gxx = _blur(gx * gx, params.tensor_sigma)
    gyy = _blur(gy * gy, params.tensor_sigma)
    gxy = _blur(gx * gy, params.tensor_sigma)
    c2 = gxx - gyy
    s2 = 2.0 * gxy
    energy = gxx + gyy
    coherence = np.sqrt(c2 * c2 + s2 * s2) / np.maximum(energy, 1e-9)
    # Doubled-angle vectors of the gradient, smoothed; the ridge is at +90°.
    c2s = _blur(c2, params.smooth_sigma)
    s2s = _blur(s2, params.smooth_sigma)
    theta = (0.5 * np.arctan2(s2s, c2s) + np.pi / 2.0) % np.pi
    return OrientationField(theta.astype(np.float32), np.clip(coherence, 0, 1).astype(np.float32))


def ridge_period(normalized: np.ndarray, mask: np.ndarray, params: FingerFrequencyParams) -> RidgePeriod:
    """Local ridge period (px) from windowed spectra of a zero-mean image."""
    win, step = params.window, params.stride
    h, w = normalized.shape
    if h < win or w < win:
        flat = np.full((h, w), 0.5 * (params.min_period_px + params.max_period_px), np.float32)
        return RidgePeriod(flat, float(flat[0, 0]), 0.0, 0.0, np.zeros((h, w), np.float32))
    views = sliding_window_view(normalized.astype(np.float32), (win, win))[::step, ::step]
    rows, cols = views.shape[:2]
    patches = views.reshape(rows * cols, win, win)
    hann = np.outer(np.hanning(win), np.hanning(win)).astype(np.float32)
    pad = 2 * win  # zero padding: 2× finer frequency bins
    spectra = np.abs(np.fft.rfft2(patches * hann, s=(pad, pad))) ** 2
    fy = np.fft.fftfreq(pad)[:, None]
    fx = np.fft.rfftfreq(pad)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)  # cycles per pixel
    band = (radius >= 1.0 / params.max_period_px) & (radius <= 1.0 / params.min_period_px)
    energy = spectra[:, band]
    band_fx = np.broadcast_to(fx, radius.shape)[band]
    band_fy = np.broadcast_to(fy, radius.shape)[band]
    flat_radius = radius[band]
    peak = np.argmax(energy, axis=1)
    total = energy.sum(axis=1) + 1e-12
    # Peak share: energy within 1.5 bins (2-D) of the peak. Parallel ridges put most of
    # the band's energy there; noise and texture spread it over the whole annulus. The
    # mirrored peak (the spectrum of a real image is symmetric) counts too.
    tol = 1.5 / pad
    dx = band_fx[None, :] - band_fx[peak][:, None]
    near = (np.abs(dx) <= tol) & (np.abs(band_fy[None, :] - band_fy[peak][:, None]) <= tol)
    mirror = (np.abs(band_fx[None, :] + band_fx[peak][:, None]) <= tol) & (
        np.abs(band_fy[None, :] + band_fy[peak][:, None]) <= tol
    )
    near |= mirror
    share = (energy * near).sum(axis=1) / total
    # Sub-bin frequency: energy-weighted mean radius around the peak.
    freq = (energy * near * flat_radius[None, :]).sum(axis=1) / ((energy * near).sum(axis=1) + 1e-12)
    period = 1.0 / np.maximum(freq, 1e-6)
    centres_y = np.arange(rows) * step + win // 2
    centres_x = np.arange(cols) * step + win // 2
    inside = mask[np.ix_(centres_y, centres_x)].ravel()
    # A peak on the band's edge is the slope of a smooth (non-ridge) spectrum, not a period.
    interior = (period < 0.93 * params.max_period_px) & (period > 1.07 * params.min_period_px)
    reliable = inside & (share >= params.min_peak_share) & interior
    if reliable.any():
        median = float(np.median(period[reliable]))
    elif inside.any():
        median = float(np.median(period[inside]))
    else:
        median = float(np.median(period))
    grid = np.where(reliable, period, median).reshape(rows, cols).astype(np.float32)
    grid = cv2.medianBlur(grid, 3) if min(rows, cols) >= 3 else grid
    full = cv2.resize(grid, (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)
    out = np.full((h, w), median, np.float32)
    off = win // 2 - step // 2
    ys, xs = slice(off, min(h, off + full.shape[0])), slice(off, min(w, off + full.shape[1]))
    out[ys, xs] = full[: ys.stop - ys.start, : xs.stop - xs.start]
    clarity = float(np.median(share[inside])) if inside.any() else 0.0
    share_full = cv2.resize(
        share.reshape(rows, cols).astype(np.float32),
        (cols * step, rows * step),
        interpolation=cv2.INTER_LINEAR,
    )
    clarity_map = np.zeros((h, w), np.float32)
    clarity_map[ys, xs] = share_full[: ys.stop - ys.start, : xs.stop - xs.start]
    return RidgePeriod(
        np.clip(out, params.min_period_px, params.max_period_px),
        median,
        clarity,
        float(reliable.sum() / max(1, inside.sum())),
        clarity_map,
    )
