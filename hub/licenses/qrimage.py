"""Render QR text as PNG and SVG images (ISO/IEC 18004, error correction M, alphanumeric mode)."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.util import MODE_ALPHA_NUM, QRData


def make_qr(text: str) -> qrcode.QRCode:
    """Build the QR symbol for a license text: EC level M, alphanumeric mode."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM, check_data=False))
    code.make(fit=True)
    return code


def qr_version(text: str) -> int:
    """Return the QR version the text needs."""
    return make_qr(text).version


def qr_png(text: str) -> bytes:
    """Render a PNG."""
    buffer = io.BytesIO()
    make_qr(text).make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(text: str) -> bytes:
    """Render an SVG (a single path)."""
    buffer = io.BytesIO()
    make_qr(text).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return buffer.getvalue()
