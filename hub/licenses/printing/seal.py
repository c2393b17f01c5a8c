"""The issuing department's round red seal (公章), drawn with vector primitives from its name.

The geometry follows the usual layout of an official seal: a red ring, the organisation's name
along the upper arc with each character upright towards the rim, a five-pointed star in the
centre, and an optional horizontal line (e.g. 电子证照专用章) below the star. The seal is
printed with the Multiply blend mode, like ink: black text under it stays readable.
"""

from __future__ import annotations

import math

from reportlab.pdfgen.canvas import Canvas

from hub.licenses.printing.fonts import cjk_fonts

SEAL_RED = (0.87, 0.09, 0.11)
RING = 0.055  # ring width as a fraction of the radius (1.2 mm on a 42 mm seal)
STAR = 0.30  # star's outer radius as a fraction of the radius
GLYPH_SCALE = 80  # horizontal scale (%) of the name's characters: seal characters are tall and narrow
MAX_NAME_SIZE = 0.29  # largest character size, as a fraction of the radius


def draw_seal(canvas: Canvas, x: float, y: float, radius: float, name: str, subtitle: str | None = None) -> None:
    """Draw a round red seal centred on (x, y), with `name` along its upper arc."""
    font = cjk_fonts().regular
    canvas.saveState()
    canvas.setBlendMode("Multiply")
    canvas.setStrokeColorRGB(*SEAL_RED)
    canvas.setFillColorRGB(*SEAL_RED)
    canvas.setLineWidth(radius * RING)
    canvas.circle(x, y, radius * (1 - RING / 2), stroke=1, fill=0)
    _star(canvas, x, y, radius * STAR)
    _arc_text(canvas, x, y, radius, name.strip(), font)
    if subtitle:
        _subtitle(canvas, x, y, radius, subtitle.strip(), font)
    canvas.restoreState()


def _star(canvas: Canvas, x: float, y: float, outer: float) -> None:
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(126))  # regular pentagram
    path = canvas.beginPath()
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        angle = math.radians(90 + 36 * k)
        point = (x + r * math.cos(angle), y + r * math.sin(angle))
        if k == 0:
            path.moveTo(*point)
        else:
            path.lineTo(*point)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def _arc_layout(radius: float, count: int) -> tuple[float, float, float]:
    """Return (span in degrees, character size, baseline radius) for `count` characters."""
    span = min(250.0, 150.0 + 9.0 * count)
    size = radius * MAX_NAME_SIZE
    for _ in range(3):  # the baseline radius depends on the size and the size on the radius: settle both
        top = radius * (1 - RING - 0.09)  # characters' tops just inside the ring
        middle = top - 0.45 * size
        slot = middle * math.radians(span) / count
        size = min(radius * MAX_NAME_SIZE, slot / (GLYPH_SCALE / 100 * 1.12))
    return span, size, top - 0.86 * size


def _arc_text(canvas: Canvas, x: float, y: float, radius: float, name: str, font: str) -> None:
    if not name:
        return
    span, size, baseline = _arc_layout(radius, len(name))
    step = span / len(name)
    for i, char in enumerate(name):
        angle = 90 + span / 2 - (i + 0.5) * step  # left to right, clockwise over the top
        canvas.saveState()
        canvas.translate(x, y)
        canvas.rotate(angle - 90)  # the character's up points away from the centre
        text = canvas.beginText()
        text.setFont(font, size)
        text.setHorizScale(GLYPH_SCALE)
        text.setTextRenderMode(2)  # fill and stroke: the heavier strokes of a carved seal
        canvas.setLineWidth(size * 0.035)
        width = canvas.stringWidth(char, font, size) * GLYPH_SCALE / 100
        text.setTextOrigin(-width / 2, baseline)
        text.textOut(char)
        canvas.drawText(text)
        canvas.restoreState()


def _subtitle(canvas: Canvas, x: float, y: float, radius: float, subtitle: str, font: str) -> None:
    size = min(radius * 0.15, radius * 1.15 / max(len(subtitle), 1))
    baseline = y - radius * STAR - size * 1.5
    canvas.setFont(font, size)
    canvas.drawCentredString(x, baseline, subtitle)
