"""Read CSV, JSON Lines and XLSX files as numbered rows of cells: (subject, field1, field2, ...).

Each reader checks the header (or first record) eagerly and raises ImportFormatError before any row is
yielded; afterwards a bad row is yielded as (line, message) and reading goes on. A file past one of the caps
in `connectors.limits` (a line, a cell, the header's width; for XLSX see `connectors.xlsx`) raises
ImportTooLarge wherever it is met: the caller writes nothing until the whole file has been read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import IO, Any

import orjson

from connectors.base import ImportFormatError
from connectors.limits import DEFAULT, Limits, too_large
from connectors.xlsx import read_first_sheet

BOM = b"\xef\xbb\xbf"
COUNT_CHUNK = 1 << 20
FORMATS = ("csv", "jsonl", "xlsx")

Row = tuple[int, "tuple[Any, ...] | str"]  # (1-based line, cells) or (line, what is wrong)


@dataclass
class Rows:
    """The numbered rows of one file, and an estimate of how many there are (None when unknown)."""

    rows: Iterator[Row]
    total: int | None


def read_rows(stream: IO[bytes], fmt: str, columns: Sequence[str], limits: Limits = DEFAULT) -> Rows:
    """Open the file as `fmt`; each row's cells follow `columns` (the subject column first)."""
    if fmt == "csv":
        return _csv_rows(stream, columns, limits)
    if fmt == "jsonl":
        return _jsonl_rows(stream, columns, limits)
    if fmt == "xlsx":
        rows, total = read_first_sheet(stream, lambda header: _positions(header, columns, limits), limits)
        return Rows(rows, total)
    raise ImportFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _first_line(stream: IO[bytes], limits: Limits) -> bytes:
    line = stream.readline(limits.line_bytes)
    if not line:
        raise ImportFormatError("the file is empty")
    if len(line) >= limits.line_bytes and not line.endswith(b"\n"):
        raise too_large("line_bytes", limits.line_bytes, f"the first line is longer than {limits.line_bytes:,} bytes")
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


def _lines(stream: IO[bytes], limits: Limits, number: int) -> Iterator[bytes]:
    """Yield the lines after line `number`, refusing one over the cap before it is read whole."""
    while line := stream.readline(limits.line_bytes + 1):
        number += 1
        if len(line) > limits.line_bytes:
            raise too_large("line_bytes", limits.line_bytes, f"line {number:,} is longer than "
                            f"{limits.line_bytes:,} bytes")
        yield line


def _positions(header: Sequence[Any], columns: Sequence[str], limits: Limits) -> list[int]:
    """Return each column's index in the header; refuse a missing or ambiguous one."""
    if len(header) > limits.columns:
        raise too_large("columns", limits.columns, f"the header has {len(header):,} columns")
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


def _csv_rows(stream: IO[bytes], columns: Sequence[str], limits: Limits) -> Rows:
    header = _decode_header(_first_line(stream, limits))
    positions = _positions(header, columns, limits)
    pick = itemgetter(*positions) if len(positions) > 1 else _one(positions[0])
    total = _count_lines(stream)
    return Rows(_csv_records(_Lines(_lines(stream, limits, 1)), len(header), pick, limits), total)


def _one(position: int):
    """Return a picker of one cell as a 1-tuple (itemgetter of one index returns the bare item)."""
    def pick(row: list[str]) -> tuple[str]:
        return (row[position],)
    return pick


def _csv_records(lines: _Lines, width: int, pick, limits: Limits) -> Iterator[Row]:
    reader = csv.reader(lines)
    consumed = 1  # physical lines read so far, the header included
    while True:
        line = consumed + 1  # a row starts on the line after the previous row; quoted cells may span lines
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):  # the csv module's own cap, above ours
                raise _long_cell(line, limits) from None
            consumed = 1 + reader.line_num
            yield line, f"not valid CSV: {exc}"
            continue
        consumed = 1 + reader.line_num
        if not row:
            continue  # a blank line
        if max(map(len, row)) > limits.cell_chars:
            raise _long_cell(line, limits)
        if lines.bad and not lines.bad.isdisjoint(range(line, consumed + 1)):
            yield line, "not valid UTF-8"
        elif len(row) != width:
            yield line, f"expected {width} columns, found {len(row)}"
        else:
            yield line, pick(row)


def _long_cell(line: int, limits: Limits) -> Exception:
    return too_large("cell_chars", limits.cell_chars, f"a cell on line {line:,} holds more than "
                     f"{limits.cell_chars:,} characters")


def _jsonl_rows(stream: IO[bytes], columns: Sequence[str], limits: Limits) -> Rows:
    first, blank = _first_line(stream, limits), 0
    while not first.strip():
        first, blank = _first_line(stream, limits), blank + 1
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise ImportFormatError("the first line is not JSON: not a JSON Lines file") from None
    if not isinstance(record, dict):
        raise ImportFormatError("the first line is not a JSON object: not a JSON Lines file of records")
    total = _count_lines(stream)
    rows = _jsonl_records(chain([first], _lines(stream, limits, blank + 1)), columns, blank + 1, limits)
    return Rows(rows, None if total is None else total + 1)


def _jsonl_records(lines: Iterator[bytes], columns: Sequence[str], first_line: int, limits: Limits) -> Iterator[Row]:
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
            cells = (record[subject], *[record.get(name) for name in fields])
            if any(isinstance(cell, str) and len(cell) > limits.cell_chars for cell in cells):
                raise _long_cell(line, limits)
            yield line, cells
