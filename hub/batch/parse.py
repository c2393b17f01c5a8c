"""Read a batch file (CSV or JSONL) into license requests, each with its row key and line number.

Problems with the file as a whole — not UTF-8, broken CSV quoting, a row with the wrong number of
cells, unknown or missing columns, a JSONL line that is not a JSON object, no rows, too many rows, a
line over 1 MiB, a CSV cell over the csv module's 128 KiB — raise a `HubError` (a 4xx problem: the
batch is refused and nothing is stored). Problems with one row — a missing key, a key repeated in the
file, a field of the wrong shape, text that starts like a spreadsheet formula — come back on that row
as `errors`, so the rest of the batch can still be issued.

The file is read line by line from its bytes (never decoded or copied whole), so reading it holds one
line at a time beside the upload itself.

CSV columns: `key, type, holder_id_type, holder_id, holder_name, valid_from, valid_until`, then
either `data.<field>` columns (an empty cell leaves the field out) or one `data` column holding a
JSON object. JSONL: one `LicenseIssue`-shaped object per line, plus `key`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from connectors.fields import FORMULA_RULE, looks_like_formula
from pydantic import ValidationError

from hub.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from hub.licenses.models import LicenseIssue

MAX_ROWS = 100_000
MAX_LINE_BYTES = 1 << 20  # as large as a whole POST /licenses body: any one request fits on a line
MAX_KEY_LENGTH = 128
BASE_COLUMNS = ("key", "type", "holder_id_type", "holder_id", "holder_name", "valid_from", "valid_until")
REQUIRED_COLUMNS = ("key", "type", "holder_id_type", "holder_id", "holder_name")
CONTENT_TYPES = {
    "text/csv": "csv", "application/csv": "csv",
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
}
_DATA_COLUMN = re.compile(r"^data\.([a-z][a-z0-9]*(?:_[a-z0-9]+)*)$")
_KEY_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


class MalformedBatch(BadRequest):
    code, title = "malformed_batch", "The batch file cannot be read"


class UnknownColumns(BadRequest):
    code, title = "unknown_columns", "The batch file has columns the hub does not know"


class MissingColumns(BadRequest):
    code, title = "missing_columns", "The batch file lacks required columns"


class EmptyBatch(ValidationFailed):
    code, title = "empty_batch", "The batch file has no rows"


class TooManyRows(PayloadTooLarge):
    code, title = "too_many_rows", "The batch file has too many rows"


class LineTooLong(PayloadTooLarge):
    code, title = "line_too_long", "The batch file has a line over 1 MiB"


class UnsupportedBatchType(UnsupportedMediaType):
    code, title = "unsupported_batch_type", "Send the batch as text/csv or application/x-ndjson"


@dataclass(frozen=True)
class BatchRow:
    """One data row: where it starts, its key, and the request (None when the row itself is broken)."""

    line: int
    key: str | None
    request: LicenseIssue | None
    code: str | None = None
    detail: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


def batch_format(content_type: str | None) -> str:
    """Map a Content-Type to "csv" or "jsonl"; anything else is a 415."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise UnsupportedBatchType(f"Content-Type {media or '(none)'!r} is not a batch format; "
                                   "use text/csv or application/x-ndjson.")
    return CONTENT_TYPES[media]


def read_batch(data: bytes, fmt: str) -> Iterator[BatchRow]:
    """Yield the rows of a batch file in order; duplicate keys after the first are broken rows."""
    rows = _csv_rows(data) if fmt == "csv" else _jsonl_rows(data)
    first_line: dict[str, int] = {}
    count = 0
    for row in rows:
        count += 1
        if count > MAX_ROWS:
            raise TooManyRows(f"A batch holds at most {MAX_ROWS} rows.")
        if row.key is not None:
            seen = first_line.setdefault(row.key, row.line)
            if seen != row.line:
                row = BatchRow(row.line, row.key, None, "duplicate_key",
                               f"The key {row.key!r} was already used on line {seen} of this file.")
        yield row


def count_rows(data: bytes, fmt: str) -> int:
    """Check the whole file and return its number of data rows; raise on a file-level problem.

    Rows are only counted here, not validated: the job validates each row when it issues it.
    """
    records = _csv_records(data) if fmt == "csv" else _jsonl_records(data)
    total = 0
    for _ in records:
        total += 1
        if total > MAX_ROWS:
            raise TooManyRows(f"A batch holds at most {MAX_ROWS} rows.")
    if total == 0:
        raise EmptyBatch("The batch file has no data rows.")
    return total


def _lines(data: bytes) -> Iterator[str]:
    """Decode the file one line at a time (dropping a BOM); refuse a line over the cap or one not UTF-8."""
    stream = io.BytesIO(data)  # shares the bytes: no copy
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise LineTooLong(f"Line {number} is longer than {MAX_LINE_BYTES:,} bytes.", line=number,
                              limit="line_bytes", maximum=MAX_LINE_BYTES)
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBatch(f"The file is not UTF-8 (line {number}, byte {exc.start}).") from exc


def _csv_rows(data: bytes) -> Iterator[BatchRow]:
    for line, cells in _csv_records(data):
        yield _csv_row(line, cells)


def _csv_records(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, cells by column) for each data row; raise on a file-level problem."""
    reader = csv.reader(_lines(data), strict=True)
    header: list[str] | None = None
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MalformedBatch(f"Line {line}: {exc}.") from exc
        if not record or (header is None and not any(cell.strip() for cell in record)):
            continue
        if header is None:
            header = _check_header(record)
            continue
        if len(record) != len(header):
            raise MalformedBatch(f"Line {line}: {len(record)} cells, but the header has {len(header)}.")
        yield line, dict(zip(header, record))


def _check_header(record: list[str]) -> list[str]:
    header = [name.strip() for name in record]
    unknown = [n for n in header if n not in BASE_COLUMNS and n != "data" and not _DATA_COLUMN.match(n)]
    if unknown:
        raise UnknownColumns(f"Unknown columns: {', '.join(map(repr, unknown))}. Known: {', '.join(BASE_COLUMNS)}, "
                             "data (a JSON object) or data.<field>.", columns=unknown)
    repeated = sorted({n for n in header if header.count(n) > 1})
    if repeated:
        raise MalformedBatch(f"Repeated columns: {', '.join(repeated)}.")
    missing = [n for n in REQUIRED_COLUMNS if n not in header]
    if missing:
        raise MissingColumns(f"Missing columns: {', '.join(missing)}.", columns=missing)
    if "data" in header and any(_DATA_COLUMN.match(n) for n in header):
        raise MalformedBatch("Use either a data column (JSON) or data.<field> columns, not both.")
    return header


def _csv_row(line: int, cells: dict[str, str]) -> BatchRow:
    key, key_error = _row_key(cells["key"].strip() or None)
    if key_error:
        return BatchRow(line, key, None, *key_error)
    if "data" in cells:
        try:
            data = orjson.loads(cells["data"]) if cells["data"].strip() else {}
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return BatchRow(line, key, None, "invalid_row", "The data column must hold a JSON object.",
                            [{"field": "data", "code": "wrong_type", "message": "expected a JSON object"}])
    else:
        data = {name[5:]: value for name, value in cells.items() if name.startswith("data.") and value.strip()}
    body = {"type": cells["type"].strip(), "data": data,
            "holder": {"id_type": cells["holder_id_type"].strip(), "id": cells["holder_id"].strip(),
                       "name": cells["holder_name"].strip()},
            "valid_from": cells.get("valid_from", "").strip() or None,
            "valid_until": cells.get("valid_until", "").strip() or None}
    return _validated(line, key, body)


def _jsonl_records(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, object) for each non-blank line; raise on a file-level problem."""
    for number, raw in enumerate(_lines(data), start=1):
        if not raw.strip():
            continue
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedBatch(f"Line {number} is not valid JSON ({exc}).") from exc
        if not isinstance(body, dict):
            raise MalformedBatch(f"Line {number} is not a JSON object.")
        yield number, body


def _jsonl_rows(data: bytes) -> Iterator[BatchRow]:
    for number, body in _jsonl_records(data):
        key = body.pop("key", None)
        if key is not None and not isinstance(key, str):
            yield BatchRow(number, None, None, "invalid_key", "The key must be a string.")
            continue
        key, key_error = _row_key(key.strip() if key else None)
        yield BatchRow(number, key, None, *key_error) if key_error else _validated(number, key, body)


def _row_key(key: str | None) -> tuple[str | None, tuple[str, str] | None]:
    if key is None:
        return None, ("missing_key", "Every row needs a key, so that a re-submitted row is not issued twice.")
    if len(key) > MAX_KEY_LENGTH or _KEY_UNSAFE.search(key) or looks_like_formula(key):
        return None, ("invalid_key", f"A key has at most {MAX_KEY_LENGTH} characters, no control characters, "
                                     "and does not start like a spreadsheet formula (=, +, -, @).")
    return key, None


def _formula_field(value: Any, path: str = "") -> str | None:
    """Return where a text value starts like a spreadsheet formula (a dotted path), if one does."""
    if isinstance(value, str):
        return (path or "(row)") if looks_like_formula(value) else None
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, child in children:
        found = _formula_field(child, f"{path}.{name}" if path else str(name))
        if found:
            return found
    return None


def _validated(line: int, key: str | None, body: dict[str, Any]) -> BatchRow:
    field = _formula_field(body)
    if field:
        message = f"The text {FORMULA_RULE}."
        return BatchRow(line, key, None, "formula_text", f"The field {field} {FORMULA_RULE}.",
                        [{"field": field, "code": "formula_text", "message": message}])
    try:
        return BatchRow(line, key, LicenseIssue.model_validate(body))
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "(row)", "code": e["type"], "message": e["msg"]}
                  for e in exc.errors()]
        return BatchRow(line, key, None, "invalid_row", "The row does not describe a license request.", errors)
