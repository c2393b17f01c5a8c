"""Render QR text as PNG and SVG images (ISO/IEC 18004, error correction M, alphanumeric mode).

qrcode builds the symbol once; both images are drawn from its module matrix, which is several
times cheaper than letting qrcode draw each image (it re-walks the matrix module by module).
"""

from __future__ import annotations

import functools
import io

import qrcode
from PIL import Image
from qrcode.util import MODE_ALPHA_NUM, QRData

BOX = 8  # pixels per module in the PNG
BORDER = 4  # quiet zone, in modules (ISO/IEC 18004 §9.1)


def make_qr(text: str) -> qrcode.QRCode:
    """Build the QR symbol for a license text: EC level M, alphanumeric mode."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX, border=BORDER)
    code.add_data(QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM, check_data=False))
    code.make(fit=True)
    return code


def qr_version(text: str) -> int:
    """Return the QR version the text needs."""
    return make_qr(text).version


@functools.lru_cache(maxsize=64)
def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The symbol's modules, quiet zone included; cached because choosing the mask costs ~20 ms and
    the PNG, the SVG and the PDF of a license all draw the same symbol."""
    return tuple(tuple(row) for row in make_qr(text).get_matrix())


def render(text: str) -> tuple[bytes, bytes]:
    """Return (PNG, SVG) images of the text's QR symbol."""
    matrix = qr_matrix(text)
    return _png(matrix), _svg(matrix)


def _png(matrix) -> bytes:
    size = len(matrix)
    image = Image.new("1", (size, size))
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    buffer = io.BytesIO()
    image.resize((size * BOX, size * BOX), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def _svg(matrix) -> bytes:
    size = len(matrix)
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {size} {size}" width="{size * BOX}" height="{size * BOX}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>\n').encode()


def qr_png(text: str) -> bytes:
    """Render a PNG."""
    return render(text)[0]


def qr_svg(text: str) -> bytes:
    """Render an SVG (a single path)."""
    return render(text)[1]
