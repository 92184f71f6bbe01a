"""Safe decoding: allow-list, limits, bombs, corruption, EXIF orientation, odd modes."""

import io
import zlib
import struct

import numpy as np
import pytest
from PIL import Image

from fieldid.errors import (
    CorruptImage,
    EmptyImage,
    ImageTooLarge,
    ImageTooManyPixels,
    UnsupportedImageFormat,
)
from fieldid.imaging import ImageLimits, decode_image, sniff_format


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def sample(w=40, h=30, mode="RGB") -> Image.Image:
    arr = (np.arange(w * h * 3).reshape(h, w, 3) % 251).astype(np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "WEBP"])
def test_allowed_formats_decode_to_rgb(fmt):
    out = decode_image(encode(sample(), fmt))
    assert out.format == fmt
    assert out.rgb.shape == (30, 40, 3) and out.rgb.dtype == np.uint8
    assert len(out.sha256) == 64


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK", "LA"])
def test_modes_become_rgb(mode):
    img = sample(mode="L").convert("I;16") if mode == "I;16" else sample(mode=mode)
    fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
    out = decode_image(encode(img, fmt))
    assert out.rgb.shape == (30, 40, 3)


def test_exif_orientation_is_applied():
    img = sample(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.rgb.shape == (40, 30, 3) and out.exif_rotated


def test_empty():
    with pytest.raises(EmptyImage) as e:
        decode_image(b"")
    assert e.value.code == "image_empty"


def test_too_many_bytes():
    with pytest.raises(ImageTooLarge) as e:
        decode_image(encode(sample(), "PNG"), ImageLimits(max_bytes=100))
    assert e.value.code == "image_too_large"


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 20, b"hello world", b"%PDF-1.4", b"\x00\x00\x01\x00ico"])
def test_unsupported(data):
    with pytest.raises(UnsupportedImageFormat) as e:
        decode_image(data)
    assert e.value.code == "image_unsupported_format"
    assert sniff_format(data) is None


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header announcing a huge image over a tiny compressed body."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\0" * (width + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding():
    bomb = png_bomb(50_000, 50_000)  # 2.5 G pixels in a few KB
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooManyPixels) as e:
        decode_image(bomb)
    assert e.value.code == "image_too_many_pixels"


def test_side_limit():
    with pytest.raises(ImageTooManyPixels):
        decode_image(encode(sample(300, 10), "PNG"), ImageLimits(max_side=200))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_truncated_is_corrupt(fmt):
    data = encode(sample(200, 200), fmt)
    with pytest.raises(CorruptImage) as e:
        decode_image(data[: len(data) // 2])
    assert e.value.code == "image_corrupt"


def test_garbage_after_magic_is_corrupt():
    with pytest.raises(CorruptImage):
        decode_image(b"\xff\xd8\xff" + bytes(range(256)) * 10)


def test_gray_is_luma():
    out = decode_image(encode(Image.new("RGB", (4, 4), (255, 0, 0)), "PNG"))
    assert int(out.gray()[0, 0]) == 76
