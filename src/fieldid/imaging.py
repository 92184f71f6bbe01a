"""Safe image decoding: the only place in FieldID that parses image bytes.

Probe images arrive from phones, files and scanners, i.e. from outside. Before Pillow sees
them we check the byte size and the magic number against an allow-list; before pixels are
decoded we check the declared dimensions (decompression-bomb guard); decoding errors of any
kind become :class:`~fieldid.errors.CorruptImage`. EXIF orientation is applied so that a
phone photo taken sideways is upright.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from fieldid.errors import (
    CorruptImage,
    EmptyImage,
    ImageTooLarge,
    ImageTooManyPixels,
    UnsupportedImageFormat,
)

#: Formats we accept, keyed by the name Pillow uses.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on untrusted input. Defaults fit a 48 MP phone photo with margin."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_side: int = 16_384


@dataclass(frozen=True)
class DecodedImage:
    """An upright 8-bit RGB image with where it came from."""

    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous
    format: str  # one of ALLOWED_FORMATS
    sha256: str  # of the bytes as received
    exif_rotated: bool

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    def gray(self) -> np.ndarray:
        """Luma (ITU-R BT.601) as uint8, for fingerprint pipelines."""
        r, g, b = (self.rgb[..., i].astype(np.float32) for i in range(3))
        return np.clip(0.299 * r + 0.587 * g + 0.114 * b + 0.5, 0, 255).astype(np.uint8)


def sniff_format(data: bytes) -> str | None:
    """Identify an allowed format from its magic number, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode untrusted bytes into an upright RGB array, or raise a FieldID image error."""
    limits = limits or ImageLimits()
    if not data:
        raise EmptyImage("The image is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"The image is {len(data):,} bytes; the limit is {limits.max_bytes:,}.",
            size_bytes=len(data),
            max_bytes=limits.max_bytes,
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedImageFormat(
            "Unsupported image format: send JPEG, PNG, BMP, TIFF or WebP.",
            allowed=list(ALLOWED_FORMATS),
        )
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than raises) between 1x and 2x its own bomb limit; we decide.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = img.size
            if width <= 0 or height <= 0:
                raise CorruptImage("The image has no pixels.")
            if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
                raise ImageTooManyPixels(
                    f"The image is {width}×{height} pixels; the limit is {limits.max_pixels:,} pixels "
                    f"and {limits.max_side:,} per side.",
                    width=width,
                    height=height,
                    max_pixels=limits.max_pixels,
                )
            img.load()
            rotated = _orientation(img) not in (None, 1)
            img = ImageOps.exif_transpose(img) if rotated else img
            rgb = _to_rgb(img)
    except (ImageTooManyPixels, CorruptImage):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooManyPixels(f"The image expands to too many pixels: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on untrusted input is "corrupt"
        raise CorruptImage(f"The {fmt} image could not be decoded: {type(exc).__name__}: {exc}") from None
    return DecodedImage(rgb=rgb, format=fmt, sha256=digest, exif_rotated=rotated)


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a good image
        return None


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        gray = scaled.astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if img.mode == "F":
        return _to_rgb(Image.fromarray(np.asarray(img, dtype=np.float64).astype(np.int32), mode="I"))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Flatten transparency onto white, as a printed card would be.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as JPEG (thumbnails of enrolled samples, demo fixtures)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
