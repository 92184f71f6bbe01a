"""ISO/IEC 19794-2 finger minutiae records (2005 and 2011), read and written byte-exactly.

Only what the standard fixes is written; a decoded record keeps its capture context
(:class:`~fieldid.types.FingerCapture`) and extended data verbatim, so that
``encode(decode(b), version) == b`` for any single-view record of that version whose
minutiae carry qualities (6-byte minutiae). Malformed input raises
:class:`~fieldid.errors.TemplateError` (code ``template_corrupt``), never another error.

Layouts (big-endian):

2005 (version " 20\\0"): 24-byte header — "FMR\\0", version, record length (4), capture
equipment (2: 4-bit compliance, 12-bit device id), image width, height (2 each), x and y
resolution in pixels per cm (2 each), number of finger views (1), reserved (1); per view:
finger position (1), view number << 4 | impression type (1), finger quality (1), minutiae
count (1), 6 bytes per minutia, extended data length (2) and the extended data.

2011 (version "030\\0"): 15-byte header — "FMR\\0", version, record length (4), number of
representations (2), certification flag (1); per representation: its length (4), capture
date/time (9), device technology (1), vendor (2), type (2), quality block count (1) and
5-byte blocks (score, vendor, algorithm), finger position (1), representation number (1),
x and y resolution ppcm (2 each), impression type (1), width and height (2 each), minutia
field length << 4 | ridge-ending type (1), minutiae count (1), the minutiae, extended data
length (2) and data.

A minutia: type (2 bits: 01 ending, 10 bifurcation, 00 other) and x (14 bits); 2 reserved
bits and y (14 bits); angle in 1.40625° steps counter-clockwise; quality 0–100.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from fieldid.errors import TemplateError
from fieldid.types import FingerCapture, FingerTemplate, QualityReport, frozen_array

MAGIC = b"FMR\x00"
VERSION_2005 = b" 20\x00"
VERSION_2011 = b"030\x00"
#: Model id given to decoded templates: their minutiae came from some other extractor.
DECODED_MODEL = "iso19794-2"
#: The standard's resolution unit: pixels per centimetre.
_CM_PER_INCH = 2.54
_MAX_COORD = 0x3FFF


def ppi_to_ppcm(ppi: int) -> int:
    return int(round(ppi / _CM_PER_INCH))


def ppcm_to_ppi(ppcm: int) -> int:
    """Inverse of :func:`ppi_to_ppcm` for the usual values (197 ppcm → 500 ppi)."""
    return int(round(ppcm * _CM_PER_INCH / 10.0) * 10) if ppcm else 500


def _minutia_bytes(m: np.ndarray) -> bytes:
    out = bytearray()
    for x, y, angle, kind, quality in np.asarray(m, np.float64)[:, :5]:
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi <= _MAX_COORD and 0 <= yi <= _MAX_COORD):
            raise TemplateError("Minutia coordinates do not fit the ISO record (0–16383).", x=xi, y=yi)
        type_bits = {1: 1, 2: 2}.get(int(kind), 0)
        angle_byte = int(round((angle % (2 * math.pi)) / (2 * math.pi) * 256)) % 256
        q = int(round(min(max(quality, 0.0), 100.0)))
        out += struct.pack(">HHBB", (type_bits << 14) | xi, yi, angle_byte, q)
    return bytes(out)


def encode_iso19794_2(template: FingerTemplate, version: str = "2011") -> bytes:
    """One-finger record of ``template`` in the given version of the standard."""
    m = np.asarray(template.minutiae)
    if len(m) > 255:
        raise TemplateError("An ISO/IEC 19794-2 view holds at most 255 minutiae.", minutiae=len(m))
    cap = template.capture
    minutiae = _minutia_bytes(m)
    ext = struct.pack(">H", len(cap.extended_data)) + cap.extended_data
    ppcm = ppi_to_ppcm(template.ppi)
    quality = int(round(min(max(template.quality.score, 0.0), 100.0)))
    if version == "2005":
        view = (
            struct.pack(
                ">BBBB",
                cap.finger_position,
                (cap.view_number << 4) | (cap.impression_type & 0xF),
                quality,
                len(m),
            )
            + minutiae
            + ext
        )
        length = 24 + len(view)
        header = (
            MAGIC
            + VERSION_2005
            + struct.pack(
                ">IHHHHHBB",
                length,
                cap.device_type & 0xFFFF,
                template.width,
                template.height,
                ppcm,
                ppcm,
                1,
                0,
            )
        )
        return header + view
    if version == "2011":
        blocks = cap.quality_blocks or ((quality, 0, 0),)
        if len(cap.capture_time) != 9:
            raise TemplateError("Capture time must be 9 bytes.")
        body = (
            cap.capture_time
            + struct.pack(">BHHB", cap.device_technology, cap.device_vendor, cap.device_type, len(blocks))
            + b"".join(struct.pack(">BHH", *b) for b in blocks)
            + struct.pack(
                ">BBHHBHHBB",
                cap.finger_position,
                cap.view_number,
                ppcm,
                ppcm,
                cap.impression_type,
                template.width,
                template.height,
                0x60 | (cap.ridge_ending_type & 0xF),
                len(m),
            )
            + minutiae
            + ext
        )
        representation = struct.pack(">I", 4 + len(body)) + body
        return MAGIC + VERSION_2011 + struct.pack(">IHB", 15 + len(representation), 1, 0) + representation
    raise ValueError("version must be '2005' or '2011'")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise TemplateError("The template is truncated.", offset=self.pos)
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TemplateError("The template is truncated.", offset=self.pos)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)


def _read_minutiae(r: _Reader, count: int, width: int, height: int, size: int = 6) -> np.ndarray:
    rows = []
    for _ in range(count):
        if size == 6:
            w1, w2, angle_byte, q = r.take(">HHBB")
        else:
            w1, w2, angle_byte = r.take(">HHB")
            q = 0
        type_bits, x, y = w1 >> 14, w1 & _MAX_COORD, w2 & _MAX_COORD
        if w2 >> 14:
            raise TemplateError("Reserved minutia bits are set.")
        if q > 100 and q not in (254, 255):
            raise TemplateError("Minutia quality out of range.", quality=q)
        kind = {1: 1, 2: 2}.get(type_bits, 0)
        rows.append((x, y, angle_byte * 2 * math.pi / 256.0, kind, min(q, 100) if q <= 100 else 0))
    return np.array(rows, np.float32).reshape(-1, 5)


def decode_iso19794_2(data: bytes) -> FingerTemplate:
    """The finger view of a single-view 2005 or 2011 record."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TemplateError("A template must be bytes.")
    data = bytes(data)
    r = _Reader(data)
    magic, version = r.raw(4), r.raw(4)
    if magic != MAGIC:
        raise TemplateError("Not an ISO/IEC 19794-2 finger minutiae record.")
    (length,) = r.take(">I")
    if length != len(data):
        raise TemplateError("Record length does not match the data.", declared=length, actual=len(data))
    if version == VERSION_2005:
        equipment, width, height, xres, _yres, views, _reserved = r.take(">HHHHHBB")
        if views < 1:
            raise TemplateError("The record has no finger view.")
        position, view_impression, quality, count = r.take(">BBBB")
        minutiae = _read_minutiae(r, count, width, height)
        (ext_len,) = r.take(">H")
        extended = r.raw(ext_len)
        capture = FingerCapture(
            finger_position=position,
            impression_type=view_impression & 0xF,
            view_number=view_impression >> 4,
            device_type=equipment,
            extended_data=extended,
        )
        if views != 1 or r.pos != len(data):
            raise TemplateError("Unsupported 2005 record (several finger views or trailing bytes).")
    elif version == VERSION_2011:
        representations, cert_flag = r.take(">HB")
        if representations < 1:
            raise TemplateError("The record has no finger representation.")
        start = r.pos
        (rep_len,) = r.take(">I")
        when = r.raw(9)
        technology, vendor, device, nblocks = r.take(">BHHB")
        blocks = tuple(r.take(">BHH") for _ in range(nblocks))
        if cert_flag:
            (ncert,) = r.take(">B")
            r.raw(3 * ncert)
        position, rep_number, xres, _yres, impression, width, height, field, count = r.take(">BBHHBHHBB")
        size = field >> 4
        if size not in (5, 6):
            raise TemplateError("Minutia field length must be 5 or 6 bytes.", length=size)
        minutiae = _read_minutiae(r, count, width, height, size)
        (ext_len,) = r.take(">H")
        extended = r.raw(ext_len)
        if r.pos - start != rep_len:
            raise TemplateError("Representation length does not match its content.")
        quality = blocks[0][0] if blocks and blocks[0][0] <= 100 else 0
        capture = FingerCapture(
            finger_position=position,
            impression_type=impression,
            view_number=rep_number,
            device_technology=technology,
            device_vendor=vendor,
            device_type=device,
            capture_time=when,
            quality_blocks=blocks,
            extended_data=extended,
            ridge_ending_type=field & 0xF,
        )
        if representations != 1 or cert_flag or size != 6 or r.pos != len(data):
            raise TemplateError(
                "Unsupported 2011 record (several representations, certificates or 5-byte minutiae)."
            )
    else:
        raise TemplateError("Unknown ISO/IEC 19794-2 version.", version=version.hex())
    if width == 0 or height == 0:
        raise TemplateError("Image size is zero.")
    if len(minutiae) and (minutiae[:, 0].max() >= width or minutiae[:, 1].max() >= height):
        raise TemplateError("A minutia lies outside the image.")
    return FingerTemplate(
        minutiae=frozen_array(minutiae, np.float32),
        width=int(width),
        height=int(height),
        ppi=ppcm_to_ppi(xres),
        quality=QualityReport(score=float(quality)),
        model=DECODED_MODEL,
        contactless=capture.impression_type == 8,
        capture=capture,
    )
