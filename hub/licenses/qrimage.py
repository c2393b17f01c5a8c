"""Render QR text as PNG and SVG images (ISO/IEC 18004, error correction M, alphanumeric mode).

The symbol is built once per text by `hub.licenses.qrencode` (the same symbol qrcode builds, several
times faster); the PNG, the SVG and the PDF all draw its module matrix.
"""

from __future__ import annotations

import functools
import io
import re
import zlib

import qrcode
from PIL import Image
from qrcode.util import MODE_ALPHA_NUM, QRData

from hub.licenses import qrencode

BOX = 8  # pixels per module in the PNG
BORDER = 4  # quiet zone, in modules (ISO/IEC 18004 §9.1)
_DARK_RUN = re.compile(rb"\x01+")
_MODULE_BYTES = bytes.maketrans(b"\x00\x01", b"\xff\x00")  # a light module: 8 white pixels


def make_qr(text: str) -> qrcode.QRCode:
    """Build the QR symbol for a license text as a qrcode object (for its ASCII printing): EC level M."""
    symbol = qrencode.encode(text)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX, border=BORDER,
                         mask_pattern=symbol.mask)  # the mask is chosen already: qrcode need not try all 8
    code.add_data(QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM, check_data=False))
    code.make(fit=True)
    return code


def qr_version(text: str) -> int:
    """Return the QR version the text needs."""
    return qrencode.encode(text).version


@functools.lru_cache(maxsize=64)
def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The symbol's modules, quiet zone included; cached because the PNG, the SVG and the PDF of a
    license all draw the same symbol."""
    return qrencode.encode(text).matrix(BORDER)


def render(text: str) -> tuple[bytes, bytes]:
    """Return (PNG, SVG) images of the text's QR symbol."""
    matrix = qr_matrix(text)
    return _png(matrix), _svg(matrix)


def _png(matrix) -> bytes:
    size = len(matrix)
    # Mode "1", 1 = white: with BOX = 8 a module is one byte of a pixel row, and each row repeats BOX times.
    pixels = b"".join(bytes(row).translate(_MODULE_BYTES) * BOX for row in matrix)
    image = Image.frombytes("1", (size * BOX, size * BOX), pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=zlib.Z_BEST_SPEED)
    return buffer.getvalue()


def _svg(matrix) -> bytes:
    size = len(matrix)
    path = "".join(f"M{x},{y}h{length}v1h-{length}z" for y, x, length in dark_runs(matrix))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {size} {size}" width="{size * BOX}" height="{size * BOX}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>\n').encode()


def dark_runs(matrix):
    """Yield (row, first column, length) for each horizontal run of dark modules."""
    for row, modules in enumerate(matrix):
        for run in _DARK_RUN.finditer(bytes(modules)):  # a row of booleans as bytes 0/1
            yield row, run.start(), run.end() - run.start()


def qr_png(text: str) -> bytes:
    """Render a PNG."""
    return render(text)[0]


def qr_svg(text: str) -> bytes:
    """Render an SVG (a single path)."""
    return render(text)[1]
