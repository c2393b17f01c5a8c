"""Bulk import (归集): load a department's CSV, JSON Lines or XLSX file into shared_records.

Rows are validated and typed in Python, batched (later rows win) into a temporary file until the whole file
has been read, so a file refused part way (past a cap of `connectors.limits`, damaged) writes nothing. Then
the batches are upserted by (source_id, subject): on PostgreSQL through COPY into a temporary staging table
and one INSERT ... SELECT ... ON CONFLICT per batch, on SQLite through executemany with ON CONFLICT DO
UPDATE. Each batch commits, so a re-run after a crash simply upserts again.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa

from connectors.base import ConnectorConfigError, ImportInterrupted
from connectors.fields import FORMULA_RULE, Coerce, FieldSpec, coercers, looks_like_formula
from connectors.limits import DEFAULT, Limits, too_large
from connectors.readers import read_rows
from connectors.store import shared_records

MAX_ERRORS = 1000
# A subject is an identifier: no blanks, control characters or backslashes (they would also break COPY text).
_SUBJECT = re.compile(r"[^\x00-\x20\x7f\\]{1,32}")

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: its 1-based line in the file and what is wrong with it."""

    line: int
    message: str


@dataclass
class ImportReport:
    """Rows read, imported and rejected; the first 1,000 rejections with their lines."""

    total: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def reject(self, line: int, message: str) -> None:
        """Count a bad row, keeping its description while there are fewer than MAX_ERRORS."""
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, message))


def import_file(engine: sa.Engine, source: str | Path | IO[bytes], *, source_id: str, fmt: str, subject_field: str,
                fields: Sequence[FieldSpec], subject_check: Callable[[str], bool] | None = None,
                progress: Progress | None = None, batch_size: int = 10_000,
                now: datetime | None = None, limits: Limits = DEFAULT) -> ImportReport:
    """Import a file into shared_records for source_id; bad rows are reported, the rest upserted."""
    columns = coercers(fields)
    if not source_id or len(source_id) > 64:
        raise ConnectorConfigError("source_id: must be 1 to 64 characters")
    if batch_size < 1:
        raise ConnectorConfigError("batch_size: must be at least 1")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    report = ImportReport()
    with _opened(source) as stream, _Spool(limits) as spool:
        rows = read_rows(stream, fmt, [subject_field, *(name for name, _ in columns)], limits)
        with closing(rows.rows):
            for batch in _batches(rows.rows, columns, subject_check, batch_size, report, limits):
                spool.add(batch)
                if progress:
                    progress(report.total, rows.total)
        _write(engine, source_id, now, spool, report)
    return report


def _write(engine: sa.Engine, source_id: str, now: datetime, spool: _Spool, report: ImportReport) -> None:
    """Upsert the spooled batches, one commit each; a refusal by the database keeps the batches before it."""
    try:
        with _writer(engine, source_id, now) as write:
            for batch in spool.batches():
                write(batch)
                report.imported += batch.valid
    except (sa.exc.DBAPIError, engine.dialect.dbapi.Error) as exc:
        raise ImportInterrupted(
            f"the database refused a batch ({type(exc).__name__}) after {report.imported:,} rows were imported; "
            "those are kept, and importing the same file again is safe: rows are upserted by subject",
            report) from None


@contextmanager
def _opened(source: str | Path | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


@dataclass(slots=True)
class _Batch:
    records: dict[str, bytes]  # subject → JSON; a later row for the same subject replaces the earlier one
    valid: int = 0  # rows accepted, a subject's repeats included
    size: int = 0  # bytes of JSON taken in, repeats included


class _Spool:
    """Validated batches in a temporary file (`subject TAB json` lines), replayed once the file is read whole."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.file = tempfile.SpooledTemporaryFile(max_size=limits.batch_bytes)
        self.counts: list[tuple[int, int]] = []  # per batch: records, valid rows
        self.size = 0

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def add(self, batch: _Batch) -> None:
        """Keep one batch; refuse a file whose records outgrow the cap."""
        self.size += batch.size
        if self.size > self.limits.records_bytes:
            raise too_large("records_bytes", self.limits.records_bytes,
                            f"the file's records take more than {self.size:,} bytes")
        self.file.write(b"".join(b"%b\t%b\n" % (subject.encode(), data) for subject, data in batch.records.items()))
        self.counts.append((len(batch.records), batch.valid))

    def batches(self) -> Iterator[_Batch]:
        """Read the batches back in order."""
        self.file.seek(0)
        readline = self.file.readline
        for count, valid in self.counts:
            records = {}
            for _ in range(count):
                subject, data = readline().rstrip(b"\n").split(b"\t", 1)
                records[subject.decode()] = data
            yield _Batch(records, valid)


def _batches(rows: Iterator[tuple[int, Any]], columns: list[tuple[str, Coerce]],
             subject_check: Callable[[str], bool] | None, size: int, report: ImportReport,
             limits: Limits) -> Iterator[_Batch]:
    """Validate and type each row; yield full batches, then the last one (even empty, for progress)."""
    names = [name for name, _ in columns]
    coerces = [coerce for _, coerce in columns]
    dumps = orjson.dumps
    batch = _Batch({})
    for line, cells in rows:
        report.total += 1
        if report.total > limits.rows:
            raise too_large("rows", limits.rows, f"the file has more than {limits.rows:,} rows")
        if isinstance(cells, str):
            report.reject(line, cells)
            continue
        subject = _subject(cells[0])
        problem = _subject_problem(subject, subject_check)
        if problem:
            report.reject(line, problem)
            continue
        try:
            values = [coerce(cell) for coerce, cell in zip(coerces, cells[1:], strict=True)]
        except (ValueError, TypeError, OverflowError):
            report.reject(line, _which(names, coerces, cells[1:]))
            continue
        try:
            batch.records[subject] = data = dumps(dict(zip(names, values, strict=True)))
        except orjson.JSONEncodeError:  # e.g. a lone surrogate from a JSON Lines \\ud800 escape
            report.reject(line, "a value is not valid Unicode text")
            continue
        batch.valid += 1
        batch.size += len(data)
        if batch.valid >= size or batch.size >= limits.batch_bytes:
            yield batch
            batch = _Batch({})
    yield batch


def _subject_problem(subject: str | None, check: Callable[[str], bool] | None) -> str | None:
    """Say what is wrong with a row's subject, if anything."""
    if subject is None or _SUBJECT.fullmatch(subject) is None:
        return "subject is empty, too long (over 32) or has blanks or control characters"
    if looks_like_formula(subject):
        return f"subject {FORMULA_RULE}"
    if check is not None and not check(subject):
        return "subject fails the identifier check (GB 11643 / GB 32100)"
    return None


def _subject(cell: Any) -> str | None:
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, int) and not isinstance(cell, bool):
        return str(cell)  # a spreadsheet may hold a credit code's digits as a number
    return None


def _which(names: list[str], coerces: list[Coerce], cells: Sequence[Any]) -> str:
    """Say which column of a rejected row is wrong, and why."""
    for name, coerce, cell in zip(names, coerces, cells, strict=True):
        try:
            coerce(cell)
        except (ValueError, TypeError, OverflowError) as exc:
            return f"column {name!r}: {exc}"
    return "a value cannot be converted"


_UPSERT_SET = "DO UPDATE SET data = excluded.data, imported_at = excluded.imported_at"
_SQLITE_UPSERT = ("INSERT INTO shared_records (source_id, subject, data, imported_at) VALUES (?, ?, ?, ?) "
                  f"ON CONFLICT (source_id, subject) {_UPSERT_SET}")
_PG_STAGE = ("CREATE TEMPORARY TABLE IF NOT EXISTS shared_records_stage "
             "(subject varchar(32) NOT NULL, data json NOT NULL) ON COMMIT DELETE ROWS")
_PG_COPY = "COPY shared_records_stage (subject, data) FROM STDIN"
_PG_UPSERT = ("INSERT INTO shared_records (source_id, subject, data, imported_at) "
              "SELECT %s, subject, data, %s FROM shared_records_stage "
              f"ON CONFLICT (source_id, subject) {_UPSERT_SET}")


@contextmanager
def _writer(engine: sa.Engine, source_id: str, now: datetime) -> Iterator[Callable[[_Batch], None]]:
    """Yield write(batch), which upserts and commits one batch on the engine's backend."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            yield _postgres_writer(raw.dbapi_connection, source_id, now)
        else:
            stamp = shared_records.c.imported_at.type.bind_processor(engine.dialect)
            yield _sqlite_writer(raw.dbapi_connection, source_id, stamp(now) if stamp else now)
    finally:
        raw.close()


def _sqlite_writer(connection, source_id: str, stamp: Any) -> Callable[[_Batch], None]:
    def write(batch: _Batch) -> None:
        cursor = connection.cursor()
        try:
            cursor.executemany(_SQLITE_UPSERT, [(source_id, subject, data.decode(), stamp)
                                                for subject, data in batch.records.items()])
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()
        connection.commit()
    return write


def _postgres_writer(connection, source_id: str, now: datetime) -> Callable[[_Batch], None]:
    with connection.cursor() as cursor:
        cursor.execute(_PG_STAGE)
    connection.commit()

    def write(batch: _Batch) -> None:
        if not batch.records:
            return
        # COPY text format: tab-separated, backslash escapes; orjson already escapes control characters.
        payload = b"".join(b"%b\t%b\n" % (subject.encode(), data.replace(b"\\", b"\\\\"))
                           for subject, data in batch.records.items())
        try:
            with connection.cursor() as cursor:
                with cursor.copy(_PG_COPY) as copy:
                    copy.write(payload)
                cursor.execute(_PG_UPSERT, (source_id, now))
        except BaseException:
            connection.rollback()
            raise
        connection.commit()  # ON COMMIT DELETE ROWS empties the staging table
    return write
