"""Read CSV, JSON Lines and XLSX files as numbered rows of cells: (subject, field1, field2, ...).

Each reader checks the header (or first record) eagerly and raises ImportFormatError before any row is
yielded; afterwards a bad row is yielded as (line, message) and reading goes on.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import IO, Any

import orjson

from connectors.base import ImportFormatError

BOM = b"\xef\xbb\xbf"
MAX_HEADER = 1 << 20  # a "header line" longer than this is not a header: binary or one-line garbage
COUNT_CHUNK = 1 << 20
FORMATS = ("csv", "jsonl", "xlsx")

Row = tuple[int, "tuple[Any, ...] | str"]  # (1-based line, cells) or (line, what is wrong)


@dataclass
class Rows:
    """The numbered rows of one file, and an estimate of how many there are (None when unknown)."""

    rows: Iterator[Row]
    total: int | None


def read_rows(stream: IO[bytes], fmt: str, columns: Sequence[str]) -> Rows:
    """Open the file as `fmt`; each row's cells follow `columns` (the subject column first)."""
    if fmt == "csv":
        return _csv_rows(stream, columns)
    if fmt == "jsonl":
        return _jsonl_rows(stream, columns)
    if fmt == "xlsx":
        return _xlsx_rows(stream, columns)
    raise ImportFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _first_line(stream: IO[bytes]) -> bytes:
    line = stream.readline(MAX_HEADER)
    if not line:
        raise ImportFormatError("the file is empty")
    if len(line) >= MAX_HEADER and not line.endswith(b"\n"):
        raise ImportFormatError("the first line is over 1 MiB long: not a text file of records")
    if b"\x00" in line:
        raise ImportFormatError("the file is binary, not text")
    return line.removeprefix(BOM)


def _count_lines(stream: IO[bytes]) -> int | None:
    """Count the lines left in a seekable stream, then rewind; None for a stream that cannot seek."""
    try:
        start = stream.tell()
    except (OSError, AttributeError):
        return None
    if not stream.seekable():
        return None
    count, last = 0, b"\n"
    while chunk := stream.read(COUNT_CHUNK):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    stream.seek(start)
    return count + (last != b"\n")


def _decode_header(line: bytes) -> list[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportFormatError("the header line is not UTF-8 text") from None
    return [name.strip() for name in next(csv.reader([text]))]


def _positions(header: Sequence[Any], columns: Sequence[str]) -> list[int]:
    """Return each column's index in the header; refuse a missing or ambiguous one."""
    names = [str(name).strip() if name is not None else "" for name in header]
    missing = [column for column in columns if column not in names]
    if missing:
        raise ImportFormatError(f"the header has no column {', '.join(repr(c) for c in dict.fromkeys(missing))} "
                                f"(header: {', '.join(names)[:200]})")
    doubled = [column for column in dict.fromkeys(columns) if names.count(column) > 1]
    if doubled:
        raise ImportFormatError(f"the header names column {doubled[0]!r} more than once")
    return [names.index(column) for column in columns]


class _Lines:
    """Decode byte lines as UTF-8 for the csv module, noting which lines were not valid UTF-8."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines
        self.bad: set[int] = set()
        self.number = 1  # the header is line 1

    def __iter__(self) -> Iterator[str]:
        for raw in self.lines:
            self.number += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(self.number)
                yield raw.decode("utf-8", "replace")


def _csv_rows(stream: IO[bytes], columns: Sequence[str]) -> Rows:
    header = _decode_header(_first_line(stream))
    positions = _positions(header, columns)
    pick = itemgetter(*positions) if len(positions) > 1 else _one(positions[0])
    total = _count_lines(stream)
    return Rows(_csv_records(_Lines(iter(stream)), len(header), pick), total)


def _one(position: int):
    """Return a picker of one cell as a 1-tuple (itemgetter of one index returns the bare item)."""
    def pick(row: list[str]) -> tuple[str]:
        return (row[position],)
    return pick


def _csv_records(lines: _Lines, width: int, pick) -> Iterator[Row]:
    reader = csv.reader(lines)
    consumed = 1  # physical lines read so far, the header included
    while True:
        line = consumed + 1  # a row starts on the line after the previous row; quoted cells may span lines
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            consumed = 1 + reader.line_num
            yield line, f"not valid CSV: {exc}"
            continue
        consumed = 1 + reader.line_num
        if not row:
            continue  # a blank line
        if lines.bad and not lines.bad.isdisjoint(range(line, consumed + 1)):
            yield line, "not valid UTF-8"
        elif len(row) != width:
            yield line, f"expected {width} columns, found {len(row)}"
        else:
            yield line, pick(row)


def _jsonl_rows(stream: IO[bytes], columns: Sequence[str]) -> Rows:
    first, blank = _first_line(stream), 0
    while not first.strip():
        first, blank = _first_line(stream), blank + 1
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise ImportFormatError("the first line is not JSON: not a JSON Lines file") from None
    if not isinstance(record, dict):
        raise ImportFormatError("the first line is not a JSON object: not a JSON Lines file of records")
    total = _count_lines(stream)
    rows = _jsonl_records(chain([first], stream), columns, first_line=blank + 1)
    return Rows(rows, None if total is None else total + 1)


def _jsonl_records(lines: Iterator[bytes], columns: Sequence[str], first_line: int) -> Iterator[Row]:
    subject, *fields = columns
    for line, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield line, f"not valid JSON ({str(exc).split(':')[0]})"
            continue
        if not isinstance(record, dict):
            yield line, "not a JSON object"
        elif subject not in record:
            yield line, f"no {subject!r} key"
        else:
            yield line, (record[subject], *[record.get(name) for name in fields])


def _xlsx_rows(stream: IO[bytes], columns: Sequence[str]) -> Rows:
    from openpyxl import load_workbook  # imported on use: it costs 0.3 s and only spreadsheet imports need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise ImportFormatError("the file is not an XLSX workbook") from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ImportFormatError("the first sheet is empty: no header row")
        positions = _positions(header, columns)
    except BaseException:
        book.close()
        raise
    total = sheet.max_row - 1 if isinstance(sheet.max_row, int) and sheet.max_row > 1 else None
    return Rows(_xlsx_records(book, rows, positions, len(header)), total)


def _xlsx_records(book, rows: Iterator[tuple[Any, ...]], positions: list[int], width: int) -> Iterator[Row]:
    try:
        for line, row in enumerate(rows, start=2):
            if all(cell is None or cell == "" for cell in row):
                continue  # spreadsheets keep formatted but empty rows
            if len(row) > width and any(cell is not None for cell in row[width:]):
                yield line, f"expected {width} columns, found cells beyond them"
                continue
            yield line, tuple(row[i] if i < len(row) else None for i in positions)
    finally:
        book.close()
