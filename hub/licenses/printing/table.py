"""The license's table of fields: label and value cells, lines wrapped by Chinese line-breaking rules, values
stepped down in size until the table fits above the QR code."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from hub.licenses.printing.fonts import Fonts
from hub.licenses.printing.layout import GREY, INK, LEFT, RIGHT, RULE, TABLE_BOTTOM, TABLE_TOP

LABEL_WIDTH = 34 * mm
PAD_X, PAD_Y = 5.0, 4.5
VALUE_SIZE, MIN_VALUE_SIZE = 10.5, 4.5  # 4.5 pt: a 2,000-character business scope still fits
LEADING, TIGHT_LEADING = 1.4, 1.28  # line height / size: roomy at full size, tighter once a value shrinks
LABEL_SIZE, LABEL_EN_SIZE = 10.0, 6.5
NO_LINE_START = set("，。、；：！？）》」』”’%,.;:!?)]}…·—")
NO_LINE_END = set("（《「『“‘([{")


@dataclass(frozen=True)
class Row:
    label: str
    label_en: str | None
    value: str
    value_en: str | None = None


@dataclass(frozen=True)
class _Line:
    text: str
    size: float
    color: tuple[float, float, float] = INK

    @property
    def height(self) -> float:
        return self.size * (LEADING if self.size >= LABEL_SIZE else TIGHT_LEADING)


def draw_table(canvas: Canvas, rows: Sequence[Row], fonts: Fonts) -> None:
    """Draw the rows from TABLE_TOP down; values wrap, and shrink if the whole would not fit."""
    labels = [_label_lines(row, fonts.regular) for row in rows]
    values = _fit_values(rows, labels, fonts.values)
    canvas.saveState()
    canvas.setStrokeColorRGB(*RULE)
    canvas.setLineWidth(0.5)
    y = TABLE_TOP
    canvas.line(LEFT, y, RIGHT, y)
    for label, value in zip(labels, values):
        _draw_lines(canvas, label, LEFT + PAD_X, y - PAD_Y, fonts.regular)
        _draw_lines(canvas, value, LEFT + LABEL_WIDTH + PAD_X, y - PAD_Y, fonts.values)
        y -= _row_height(label, value)
        canvas.line(LEFT, y, RIGHT, y)
    canvas.line(LEFT + LABEL_WIDTH, TABLE_TOP, LEFT + LABEL_WIDTH, y)
    canvas.restoreState()


def _label_lines(row: Row, font: str) -> list[_Line]:
    width = LABEL_WIDTH - 2 * PAD_X
    lines = [_Line(text, LABEL_SIZE) for text in _wrap(row.label, font, LABEL_SIZE, width)]
    if row.label_en:
        lines += [_Line(text, LABEL_EN_SIZE, GREY) for text in _wrap(row.label_en, font, LABEL_EN_SIZE, width)]
    return lines


def _value_lines(row: Row, font: str, size: float) -> list[_Line]:
    width = RIGHT - LEFT - LABEL_WIDTH - 2 * PAD_X
    lines = [_Line(text, size) for text in _wrap(row.value.strip() or "—", font, size, width)]
    if row.value_en:
        lines += [_Line(text, LABEL_EN_SIZE, GREY) for text in _wrap(row.value_en, font, LABEL_EN_SIZE, width)]
    return lines


def _height(lines: Sequence[_Line]) -> float:
    return sum(line.height for line in lines)


def _row_height(label: Sequence[_Line], value: Sequence[_Line]) -> float:
    return max(_height(label), _height(value)) + 2 * PAD_Y


def _draw_lines(canvas: Canvas, lines: Sequence[_Line], x: float, top: float, font: str) -> None:
    for line in lines:
        top -= line.height
        canvas.setFont(font, line.size)
        canvas.setFillColorRGB(*line.color)
        canvas.drawString(x, top + (line.height - line.size) / 2 + line.size * 0.12, line.text)


def _fit_values(rows: Sequence[Row], labels: Sequence[list[_Line]], font: str) -> list[list[_Line]]:
    """Wrap each value; while the table is too tall, shrink the tallest value that sets its row's height."""
    sizes = [VALUE_SIZE] * len(rows)
    values = [_value_lines(row, font, VALUE_SIZE) for row in rows]
    available = TABLE_TOP - TABLE_BOTTOM
    while (overflow := sum(map(_row_height, labels, values)) - available) > 0:
        shrinkable = [i for i in range(len(rows))
                      if sizes[i] > MIN_VALUE_SIZE and _height(values[i]) > _height(labels[i])]
        if not shrinkable:
            return _truncate(values, overflow)
        i = max(shrinkable, key=lambda k: _height(values[k]))
        # Wrapped text's height grows with the square of its size: jump near the size that fits.
        height = _height(values[i])
        ratio = math.sqrt(max(height - overflow, 1.0) / height)
        sizes[i] = max(MIN_VALUE_SIZE, min(sizes[i] - 0.5, math.floor(sizes[i] * ratio * 2) / 2))
        values[i] = _value_lines(rows[i], font, sizes[i])
    return values


def _truncate(values: list[list[_Line]], overflow: float) -> list[list[_Line]]:
    """Last resort for values longer than a page: cut the tallest and mark the cut."""
    i = max(range(len(values)), key=lambda k: _height(values[k]))
    lines = values[i]
    while overflow > 0 and len(lines) > 1:
        overflow -= lines.pop().height
    lines[-1] = _Line(lines[-1].text[:-2] + "……", lines[-1].size, lines[-1].color)
    return values


@functools.lru_cache(maxsize=65536)
def _char_width(font: str, char: str) -> float:
    return pdfmetrics.stringWidth(char, font, 1.0)


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines no wider than `width`: anywhere between CJK characters, at spaces in
    Latin text, never before closing or after opening punctuation (which may hang past the edge)."""
    limit = width / size
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        start, used, last_break = 0, 0.0, 0  # last_break: latest index a line may start at
        for i, char in enumerate(paragraph):
            if i > start and _may_break(paragraph, i):
                last_break = i
            used += _char_width(font, char)
            if used <= limit or i == start or char in NO_LINE_START:
                continue
            cut = i if _may_break(paragraph, i) else last_break if last_break > start else i
            lines.append(paragraph[start:cut].rstrip())
            start = cut + 1 if paragraph[cut:cut + 1] == " " else cut
            used = sum(_char_width(font, c) for c in paragraph[start:i + 1])
            last_break = start
        lines.append(paragraph[start:].rstrip())
    return lines


def _may_break(text: str, i: int) -> bool:
    before, char = text[i - 1], text[i]
    if char in NO_LINE_START or before in NO_LINE_END:
        return False
    if char == " " or before == " ":
        return True
    return not (before.isascii() and char.isascii())  # keep Latin words and numbers whole
