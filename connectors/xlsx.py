"""Read the first sheet of an XLSX workbook as numbered rows, streaming, in bounded memory.

openpyxl (even `read_only`) and python-calamine both load the whole shared-strings table into Python objects
(measured: a 0.5 MB file of 200 MB of strings took either to 230–260 MB), and openpyxl pads every row to the
sheet's declared width and fills the gaps between row numbers, so a few bytes can make it produce millions of
cells. This reader walks the zip and the XML itself (`safezip`, `safexml`): the shared strings go to a
temporary file (16 MiB kept in memory) indexed by an array of offsets, and of each row only the header's
columns are kept. Values follow openpyxl's `data_only` reading: a formula cell gives its cached value, a number
formatted as a date gives a datetime.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any

from connectors.base import ImportFormatError
from connectors.limits import Limits, too_large
from connectors.safexml import parse_part, refuse_dtds
from connectors.safezip import GuardedZip
from connectors.workbook import SharedStrings, by_name, date_styles, locate, read_shared_strings

HEADER_CHARS = 256  # kept of each header cell: a column name is short, the rest is only counted
_NUMBER = re.compile(r"-?[0-9]{1,18}")

Row = tuple[int, "tuple[Any, ...] | str"]
OnHeader = Callable[[Sequence[Any]], list[int]]  # header cells → the 0-based positions of the wanted columns


def read_first_sheet(stream: IO[bytes], on_header: OnHeader, limits: Limits) -> tuple[Iterator[Row], int | None]:
    """Check the workbook and read up to its header row; return the data rows to come and an estimate of their count."""
    book = GuardedZip(stream, limits)
    strings = SharedStrings(limits)
    try:
        parts = locate(book, limits)
        refuse_dtds(book, [n for n in book.entries if n.endswith((".xml", ".rels")) and n not in parts.names()])
        if parts.strings:
            read_shared_strings(book, parts.strings, strings, limits)
        dates = date_styles(book, parts.styles, limits) if parts.styles else frozenset()
        sheet = _SheetReader(strings, dates, parts.epoch, on_header, limits)
        feed = parse_part(book, parts.sheet, sheet, limits)
        for _ in feed:
            if sheet.positions is not None:
                break
        if sheet.positions is None:
            raise ImportFormatError("the first sheet is empty: no header row")
    except BaseException:
        strings.close()
        book.close()
        raise
    return _rows(sheet, feed, book, strings), sheet.expected_rows()


def _rows(sheet: _SheetReader, feed: Iterator[None], book: GuardedZip, strings: SharedStrings) -> Iterator[Row]:
    value = sheet.value
    try:
        while True:
            ready, sheet.ready = sheet.ready, []
            for line, cells in ready:
                yield line, cells if isinstance(cells, str) else tuple(value(cell) for cell in cells)
            if next(feed, StopIteration) is StopIteration and not sheet.ready:
                return
    finally:
        strings.close()
        book.close()


class _SheetReader:
    """Turn sheet events into rows: the first row with a value is the header; later rows keep its columns only."""

    def __init__(self, strings: SharedStrings, dates: frozenset[int], epoch: datetime, on_header: OnHeader,
                 limits: Limits) -> None:
        self.strings, self.dates, self.epoch, self.on_header, self.limits = strings, dates, epoch, on_header, limits
        self.ready: list[Row] = []
        self.positions: list[int] | None = None
        self.keep: frozenset[int] | None = None  # 1-based columns whose values are kept (None: the header row)
        self.width, self.room = limits.columns, HEADER_CHARS
        self.dimension: int | None = None
        self.header_row = self.row = self.column = 0
        self.numbers: dict[str, int] = {}  # column letters → number, as met
        self._new_row()
        self._new_cell(None, None)
        self.starts = by_name({"row": self._start_row, "c": self._start_cell, "v": self._start_text,
                               "is": self._start_inline, "t": self._start_inline_text, "rPh": self._start_phonetic,
                               "dimension": self._start_dimension})
        self.ends = by_name({"row": self._end_row, "c": self._end_cell, "v": self._end_text, "t": self._end_text,
                             "is": self._end_inline, "rPh": self._end_phonetic})

    def _new_row(self) -> None:
        self.values: dict[int, tuple[str | None, str | None, str]] = {}
        self.has_value = self.beyond = False
        self.column = 0

    def _new_cell(self, kind: str | None, style: str | None) -> None:
        self.kind, self.style = kind, style
        self.parts: list[str] = []
        self.length = 0
        self.collecting = self.inline = False

    def _start_row(self, attrs: dict[str, str]) -> None:
        self._new_row()
        ref = attrs.get("r")
        try:
            self.row = int(ref) if ref is not None else self.row + 1
        except ValueError:
            raise ImportFormatError(f"a row of the first sheet has the number {ref[:20]!r}") from None
        if self.row > self.limits.sheet_rows:
            raise too_large("sheet_rows", self.limits.sheet_rows, f"the first sheet has a row {self.row:,}")

    def _start_cell(self, attrs: dict[str, str]) -> None:
        ref = attrs.get("r")
        self.column = self._column(ref) if ref else self.column + 1
        self._new_cell(attrs.get("t"), attrs.get("s"))

    def _start_text(self, attrs: dict[str, str]) -> None:
        self.collecting = True

    def _start_inline(self, attrs: dict[str, str]) -> None:
        self.inline = True

    def _start_inline_text(self, attrs: dict[str, str]) -> None:
        self.collecting = self.inline

    def _start_phonetic(self, attrs: dict[str, str]) -> None:
        self.inline = False  # a phonetic run is not part of the value

    def _start_dimension(self, attrs: dict[str, str]) -> None:
        self.dimension = _last_row(attrs.get("ref"))

    def _end_text(self) -> None:
        self.collecting = False

    def _end_inline(self) -> None:
        self.inline = False

    def _end_phonetic(self) -> None:
        self.inline = True

    def data(self, text: str) -> None:
        if self.collecting:
            before = self.length
            self.length += len(text)
            if self.length > self.limits.cell_chars:
                raise too_large("cell_chars", self.limits.cell_chars, f"cell {column_letters(self.column)}{self.row} "
                                f"holds more than {self.limits.cell_chars:,} characters")
            if before < self.room:
                self.parts.append(text)

    def _column(self, ref: str) -> int:
        letters = ref.rstrip("0123456789")
        number = self.numbers.get(letters)
        if number is None:
            number = self.numbers[letters] = _column_number(letters, ref)
        return number

    def _end_cell(self) -> None:
        if not self.length:
            return  # no value: an empty or merely formatted cell
        column = self.column
        if column > self.limits.columns:
            raise too_large("columns", self.limits.columns,
                            f"cell {column_letters(column)}{self.row} has a value")
        self.has_value = True
        if column > self.width:
            self.beyond = True
        elif self.keep is None or column in self.keep:
            text = "".join(self.parts)
            self.values[column] = (self.kind, self.style, text if len(text) <= self.room else text[:self.room])

    def _end_row(self) -> None:
        if not self.has_value:
            return
        if self.positions is None:
            self._header()
        elif self.beyond:
            self.ready.append((self.row, f"expected {self.width} columns, found cells beyond them"))
        else:  # raw cells: a shared string is looked up only when its row is taken, not for a chunk's rows at once
            values = self.values
            self.ready.append((self.row, tuple(values.get(p + 1) for p in self.positions)))

    def _header(self) -> None:
        width = max(self.values)
        self.positions = self.on_header([self.value(self.values.get(c)) for c in range(1, width + 1)])
        self.keep = frozenset(p + 1 for p in self.positions)
        self.width, self.header_row, self.room = width, self.row, self.limits.cell_chars

    def expected_rows(self) -> int | None:
        """Estimate the data rows from the sheet's declared dimension, when it has one."""
        if self.dimension is None or self.dimension <= self.header_row:
            return None
        return self.dimension - self.header_row

    def value(self, cell: tuple[str | None, str | None, str] | None) -> Any:
        """The Python value of a kept cell (type, style, text), as openpyxl's data_only reading gives it."""
        if cell is None:
            return None
        kind, style, text = cell
        if kind == "s":
            return self.strings.get(_index(text))
        if kind in ("inlineStr", "str", "e"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            return _iso_datetime(text)
        return self._number(text, style)

    def _number(self, text: str, style: str | None) -> Any:
        try:
            number: int | float = int(text) if _NUMBER.fullmatch(text) else float(text)
        except ValueError:
            return text  # the field's type check reports it on its row
        if style is not None and style.isdigit() and int(style) in self.dates:
            return _from_serial(number, self.epoch)
        return number


def _index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ImportFormatError(f"a cell refers to shared string {text[:20]!r}") from None


def _iso_datetime(text: str) -> Any:
    try:
        return datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        return text


def _from_serial(number: float, epoch: datetime) -> Any:
    from openpyxl.utils.datetime import from_excel  # the 1900 leap-year quirk and fractions of a day, done right

    try:
        return from_excel(number, epoch)
    except (ValueError, OverflowError):
        return number


def _column_number(letters: str, ref: str) -> int:
    """The 1-based number of a column's letters ("AB" → 28)."""
    if not letters or len(letters) > 3 or not letters.isascii() or not letters.isalpha():
        raise ImportFormatError(f"a cell of the first sheet has the reference {ref[:20]!r}")
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    """The letters of a 1-based column number (1 → A, 28 → AB)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters or "?"


def _last_row(ref: str | None) -> int | None:
    match = re.fullmatch(r"[A-Z]{1,3}[0-9]+:[A-Z]{1,3}([0-9]{1,7})", ref or "")
    return int(match.group(1)) if match else None
