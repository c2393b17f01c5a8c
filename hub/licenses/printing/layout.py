"""The A4 page of the printable license: its margins, colours, and where the table, QR code, seal and footer go."""

from __future__ import annotations

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT = 22 * mm, PAGE_WIDTH - 22 * mm
INK, GREY, RULE, FRAME = (0.1, 0.1, 0.1), (0.45, 0.45, 0.45), (0.72, 0.72, 0.72), (0.60, 0.45, 0.16)
QR_SYMBOL = 40 * mm  # the symbol without its quiet zone: 0.7 mm modules at version 10, easy for phones
SEAL_RADIUS = 21 * mm  # a 42 mm seal, the usual size for a department's official seal
SEAL_SUBTITLE = "电子证照专用章"
QR_BOTTOM = 32 * mm
FOOTER_BASELINE = 18 * mm
TABLE_TOP = PAGE_HEIGHT - 52 * mm
TABLE_BOTTOM = QR_BOTTOM + QR_SYMBOL * 1.2 + 2 * mm  # clear of the QR code (its top quiet zone may overlap)
