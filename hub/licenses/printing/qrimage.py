"""Render QR text as PNG and SVG images (ISO/IEC 18004, error correction M, alphanumeric mode).

The symbol is built once per text by `hub.licenses.printing.qrencode` (the same symbol qrcode builds, several
times faster); the PNG, the SVG and the PDF all draw its modules.
"""

from __future__ import annotations

import functools
import io
import zlib

import qrcode
from PIL import Image
from qrcode.util import MODE_ALPHA_NUM, QRData

from hub.licenses.printing import qrencode

BOX = 8  # pixels per module in the PNG
BORDER = 4  # quiet zone, in modules (ISO/IEC 18004 §9.1)
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
def qr_symbol(text: str) -> qrencode.Symbol:
    """The text's symbol; cached because the PNG and the SVG of a license draw the same symbol."""
    return qrencode.encode(text)


def render(text: str) -> tuple[bytes, bytes]:
    """Return (PNG, SVG) images of the text's QR symbol."""
    symbol = qr_symbol(text)
    return _png(symbol.matrix(BORDER)), _svg(symbol)


def _png(matrix) -> bytes:
    size = len(matrix)
    # Mode "1", 1 = white: with BOX = 8 a module is one byte of a pixel row, and each row repeats BOX times.
    pixels = b"".join(bytes(row).translate(_MODULE_BYTES) * BOX for row in matrix)
    image = Image.frombytes("1", (size * BOX, size * BOX), pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=zlib.Z_BEST_SPEED)
    return buffer.getvalue()


def _svg(symbol: qrencode.Symbol) -> bytes:
    size = symbol.size + 2 * BORDER
    path = "".join(f"M{x},{y}h{length}v1h-{length}z" for y, x, length in symbol.dark_runs(BORDER))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {size} {size}" width="{size * BOX}" height="{size * BOX}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>\n').encode()


def qr_png(text: str) -> bytes:
    """Render a PNG."""
    return render(text)[0]


def qr_svg(text: str) -> bytes:
    """Render an SVG (a single path)."""
    return render(text)[1]
