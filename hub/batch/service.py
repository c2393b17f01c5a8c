"""Issue the rows of batch jobs, and read jobs back (hub.batch.submit takes them in).

The job function `run_job` is written to be killed at any instant and run again:

- Rows are issued in chunks (50 rows first, doubling up to 500), one transaction per chunk holding the chunk's row
  results (`batch_rows`, primary key job + line), its licenses, their idempotency records and the job's counters;
  they commit together or not at all, so there are no half-written rows and the counters are exact. A restarted job
  skips the lines that have a result. A chunk is issued by `issue_many` (a few statements for the whole chunk); if
  its transaction fails on a constraint (another runner recorded one of its lines, or another job committed one of
  its keys meanwhile) it is rolled back and its rows go one by one through the per-row path below, which decides each
  exactly.
- Per row, the row result is inserted first, so a second runner of the same job stops at that insert (it waits for
  the first runner's uncommitted row, then hits the primary key) before it signs anything.
- The idempotency key of a row is `batch:{key}` for the submitting client: a row whose license was committed (by this
  job, an earlier job or a duplicate runner) is answered from its record, never issued twice.
- Objects: a batch row issues the signed record only (`issue_many`, or `issue_license(..., artifacts=None)`); its QR
  images and PDF are rendered from the committed record on first request, under keys derived from the identifier. A
  kill -9 therefore can never leave an object without its license (no orphans), and nothing is half-rendered. The
  only object a batch writes is its uploaded input, registered for removal if the submitting transaction rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.tokens import Principal
from hub.batch.parse import BatchRow, read_batch
from hub.batch.tables import BatchJob, BatchRow as RowResult
from hub.batch.models import JobLinks, JobOut, RowError
from hub.core.clock import Clock, system_clock
from hub.core.errors import HubError, NotFound
from hub.core.idempotency import IdempotencyConflict
from hub.core.storage.base import ObjectNotFound, ObjectStore, StorageUnavailable
from hub.licenses.many import IssueOutcome, issue_many
from hub.licenses.service import issue_license
from hub.licenses.types import LicenseType
from hub.trust.service import KeyRing

log = logging.getLogger("hub.batch")
TRANSIENT = (StorageUnavailable, OperationalError, InterfaceError)
FINISHED = ("completed", "failed")
FIRST_CHUNK_ROWS = 50  # small first chunks: progress shows (and a stop is honoured) early on
CHUNK_ROWS = 500


class Interrupted(Exception):
    """The worker is stopping; the job resumes at its first unfinished row."""


@dataclass(frozen=True)
class BatchContext:
    """What the job function needs (hub.services builds it for the app and the worker command)."""

    session_factory: sessionmaker[Session]
    store: ObjectStore
    keyring: KeyRing
    license_types: dict[str, LicenseType]
    clock: Clock
    chunk_rows: int = CHUNK_ROWS  # the largest chunk issued in one transaction


def get_job(session: Session, job_id: str, *, principal: Principal) -> BatchJob:
    """Return a job to its department or the operator; to anyone else it does not exist."""
    job = session.get(BatchJob, job_id) if len(job_id) <= 32 else None
    if job is None or not (principal.is_operator or principal.department_id == job.department_id):
        raise NotFound("No such job.")
    return job


def job_out(session: Session, job: BatchJob, *, offset: int, limit: int, base_url: str) -> JobOut:
    """Shape a job with one page of its failed rows, by line."""
    failed = (RowResult.job_id == job.id) & (RowResult.status == "failed")
    rows = session.scalars(select(RowResult).where(failed).order_by(RowResult.line).offset(offset).limit(limit))
    errors = [RowError(line=r.line, key=r.key, code=r.code or "failed", detail=r.detail or "", errors=r.errors or [])
              for r in rows]
    return JobOut(id=job.id, status=job.status, format=job.format, total=job.total, done=job.done,
                  issued=job.issued, failed=job.failed, error=job.error, created_at=job.created_at,
                  started_at=job.started_at, finished_at=job.finished_at, errors=errors,
                  errors_total=job.failed, errors_offset=offset, links=JobLinks(self=f"{base_url}/jobs/{job.id}"))


def run_job(ctx: BatchContext, job_id: str, *, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Issue every row of the job that has no result yet; safe to run again after any crash."""
    job = _start(ctx, job_id)
    if job is None:
        return
    try:
        data = ctx.store.get(job.input_key)
    except ObjectNotFound:
        return _end(ctx, job_id, error="The uploaded file is missing from object storage.")
    principal = Principal(client_id=job.client_id, role="department", department_id=job.department_id,
                          scopes=frozenset({"licenses:issue"}))
    with ctx.session_factory() as session:
        done = set(session.scalars(select(RowResult.line).where(RowResult.job_id == job_id)))
    try:
        for chunk in _chunks((row for row in _rows(data, job.format) if row.line not in done), ctx.chunk_rows):
            if should_stop():
                raise Interrupted(job_id)
            _issue_chunk(ctx, job_id, principal, chunk)
    except _BrokenInput as exc:
        return _end(ctx, job_id, error=f"The stored file could not be read: {exc}")
    _end(ctx, job_id)


class _BrokenInput(Exception):
    pass


def _rows(data: bytes, fmt: str) -> Iterator[BatchRow]:
    try:
        yield from read_batch(data, fmt)
    except HubError as exc:  # checked at submission; only a changed parser could get here
        raise _BrokenInput(exc.detail) from exc


def _chunks(rows: Iterator[BatchRow], largest: int) -> Iterator[list[BatchRow]]:
    size, chunk = min(FIRST_CHUNK_ROWS, largest), []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            size, chunk = min(size * 2, largest), []
    if chunk:
        yield chunk


def _start(ctx: BatchContext, job_id: str) -> BatchJob | None:
    with ctx.session_factory.begin() as session:
        job = session.get(BatchJob, job_id)
        if job is None or job.status in FINISHED:
            return None
        job.status, job.started_at = "running", job.started_at or ctx.clock()
        return job


def _end(ctx: BatchContext, job_id: str, *, error: str | None = None) -> None:
    with ctx.session_factory.begin() as session:
        values = {"status": "failed" if error else "completed", "error": error, "finished_at": ctx.clock(),
                  "owner": None}
        session.execute(update(BatchJob).where(BatchJob.id == job_id).values(**values))
    log.log(logging.WARNING if error else logging.INFO, "batch %s %s", job_id, error or "completed")


def _issue_chunk(ctx: BatchContext, job_id: str, principal: Principal, rows: list[BatchRow]) -> None:
    """Issue a chunk in one transaction; if that fails on a constraint, issue its rows one by one."""
    if not _try_chunk(ctx, job_id, principal, rows):
        for row in rows:
            _issue_row(ctx, job_id, principal, row)


def _try_chunk(ctx: BatchContext, job_id: str, principal: Principal, rows: list[BatchRow]) -> bool:
    """Issue the chunk's rows with issue_many and record every row's result; False if rolled back."""
    good = [row for row in rows if row.request is not None]
    with ctx.session_factory() as session:
        try:
            outcomes = dict(zip((row.line for row in good), issue_many(
                session, [(row.request, f"batch:{row.key}") for row in good], principal=principal,
                types=ctx.license_types, keyring=ctx.keyring, now=ctx.clock())))
            results = [_result(job_id, row, outcomes.get(row.line)) for row in rows]
            session.execute(insert(RowResult.__table__), results)
            issued = sum(1 for row in good if outcomes[row.line].created)
            failed = sum(1 for result in results if result["status"] == "failed")
            _count(session, job_id, done=len(rows) - failed, issued=issued, failed=failed)
            session.commit()
        except BaseException as exc:
            session.rollback()
            if isinstance(exc, TRANSIENT) or not isinstance(exc, Exception):
                raise
            if not isinstance(exc, IntegrityError):
                log.warning("batch %s: a chunk failed (%s); issuing its rows one by one", job_id, exc)
            return False
    return True


def _result(job_id: str, row: BatchRow, outcome: IssueOutcome | None) -> dict:
    result = {"job_id": job_id, "line": row.line, "key": row.key, "status": "failed", "license_identifier": None,
              "code": None, "detail": None, "errors": None}
    if outcome is None:  # the row itself is broken
        return result | {"code": row.code or "invalid_row", "detail": row.detail or "", "errors": row.errors or None}
    if outcome.error is not None:
        code, detail, errors = _failure(outcome.error, row)
        return result | {"code": code, "detail": detail, "errors": errors or None}
    return result | {"status": "issued" if outcome.created else "existing", "license_identifier": outcome.identifier}


def _issue_row(ctx: BatchContext, job_id: str, principal: Principal, row: BatchRow) -> None:
    if row.request is None:
        return _record_failure(ctx, job_id, row, row.code or "invalid_row", row.detail or "", row.errors)
    for attempt in range(2):
        failure = _try_issue(ctx, job_id, principal, row)
        # Another job issuing the same key committed first: the second attempt replays its license.
        if not (isinstance(failure, IdempotencyConflict) and attempt == 0):
            break
    if failure is not None:
        _record_failure(ctx, job_id, row, *_failure(failure, row))
    return None


def _try_issue(ctx: BatchContext, job_id: str, principal: Principal, row: BatchRow) -> Exception | None:
    """Issue one row in one transaction with its result; return the row's failure, if any."""
    with ctx.session_factory() as session:
        result = RowResult(job_id=job_id, line=row.line, key=row.key, status="issued")
        session.add(result)
        try:
            session.flush()
        except IntegrityError:  # another runner of this job has recorded the row
            session.rollback()
            return None
        try:
            license_row, created = issue_license(
                session, row.request, principal=principal, types=ctx.license_types, keyring=ctx.keyring,
                artifacts=None, idempotency_key=f"batch:{row.key}", now=ctx.clock())
            result.status, result.license_identifier = ("issued" if created else "existing"), license_row.identifier
            _count(session, job_id, done=1, issued=int(created))
            session.flush()
        except BaseException as exc:
            session.rollback()
            if isinstance(exc, TRANSIENT) or not isinstance(exc, Exception):
                raise
            return exc
        session.commit()
    return None


def _failure(exc: Exception, row: BatchRow) -> tuple[str, str, list]:
    if isinstance(exc, IdempotencyConflict):
        return exc.code, f"The key {row.key!r} was already used for a different license request.", []
    if isinstance(exc, HubError) and exc.status < 500:
        return exc.code, exc.detail, list(exc.extra.get("errors", []))
    log.exception("batch row %s failed unexpectedly", row.line, exc_info=exc)
    return "internal", "The row could not be issued because of an internal error.", []


def _record_failure(ctx: BatchContext, job_id: str, row: BatchRow, code: str, detail: str, errors: list) -> None:
    with ctx.session_factory() as session:
        session.add(RowResult(job_id=job_id, line=row.line, key=row.key, status="failed", code=code,
                              detail=detail, errors=errors or None))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return
        _count(session, job_id, failed=1)
        session.commit()


def _count(session: Session, job_id: str, *, done: int = 0, issued: int = 0, failed: int = 0) -> None:
    session.execute(update(BatchJob).where(BatchJob.id == job_id).values(
        done=BatchJob.done + done, issued=BatchJob.issued + issued, failed=BatchJob.failed + failed,
        heartbeat_at=system_clock()))


def unfinished_job_ids(session_factory: sessionmaker[Session]) -> list[str]:
    """Return the ids of queued and running jobs, oldest first."""
    with session_factory() as session:
        return list(session.scalars(select(BatchJob.id).where(BatchJob.status.in_(("queued", "running")))
                                    .order_by(BatchJob.created_at)))
