"""Bulk import (归集) into the hub's shared store: a department uploads a file for one of its bulk sources."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import IO

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from connectors import ConnectorConfigError, ImportFormatError, ImportInterrupted
from connectors.base import ImportTooLarge
from connectors.imports import ImportReport, import_file
from connectors.fields import FieldSpec
from hub.audit.service import AuditEvent, TransactionSink
from hub.auth.tokens import Principal
from hub.core.errors import BadRequest, Forbidden, HubError, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from hub.core.national_ids import is_valid_resident_id
from hub.catalogue.models import ImportOut
from hub.catalogue.sources import get_source
from hub.departments.service import require_department
from hub.catalogue.tables import Source
from license_verifier.identifiers import is_valid_credit_code

FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
MAX_IMPORT_BYTES = 200 * 1024 * 1024  # give RequestGuard this for /sources/*/import
MAX_ERRORS_SHOWN = 1000


class ImportStopped(HubError):
    status, code, title = 503, "import_interrupted", "The database stopped the import part way"


class ImportUnreadable(ValidationFailed):
    code, title = "import_format_invalid", "The file is not in the declared format"


class ImportExpandsTooFar(PayloadTooLarge):
    code, title = "import_too_large", "The file is too large once expanded"


def format_of(content_type: str | None) -> str:
    """The import format a Content-Type names."""
    fmt = FORMATS.get((content_type or "").split(";")[0].strip().lower())
    if fmt is None:
        raise UnsupportedMediaType(f"Send the file as one of: {', '.join(FORMATS)}.")
    return fmt


def import_into_source(engine, source: Source, stream: IO[bytes] | str, *, fmt: str,
                       progress: Callable[[int, int | None], None] | None = None,
                       now: datetime) -> ImportReport:
    """Upsert a file's rows into the shared store for a bulk source; bad rows are reported, the rest kept."""
    if source.connector_type != "bulk":
        raise BadRequest(f"{source.id} is reached through its {source.connector_type} connector, not imported.")
    config = source.connector_config
    check = is_valid_resident_id if source.subject_key == "resident_id" else is_valid_credit_code
    fields = [FieldSpec(f["name"], f["type"]) for f in source.fields]
    try:
        return import_file(engine, stream, source_id=source.id, fmt=fmt, fields=fields, progress=progress,
                           subject_field=config.get("subject_field", source.subject_key),
                           subject_check=lambda value: check(value), now=now)
    except ImportTooLarge as exc:  # `limit` names the cap (see connectors/limits.py); nothing was written
        raise ImportExpandsTooFar(f"{exc.reason}.", limit=exc.limit, maximum=exc.maximum) from None
    except ImportFormatError as exc:
        raise ImportUnreadable(f"{exc.reason}.") from None
    except ConnectorConfigError as exc:
        raise ValidationFailed(str(exc)) from None


def audit_import(session: Session, source: Source, report: ImportReport, *, actor: str, pepper: bytes,
                 now: datetime, interrupted: bool = False) -> None:
    """Append the import's outcome to the audit log."""
    data = {"source_id": source.id, "total": report.total, "imported": report.imported, "failed": report.failed}
    TransactionSink(session, pepper).append([AuditEvent(kind="source.import", actor=actor, subject=None, data=data | (
        {"interrupted": True} if interrupted else {}))], now=now)


async def receive_import(session: Session, source_id: str, chunks: AsyncIterator[bytes], content_type: str | None, *,
                         principal: Principal, engine, pepper: bytes, now: datetime) -> ImportOut:
    """Spool an uploaded file, import it into the owner's bulk source and audit the outcome."""
    fmt = format_of(content_type)
    source = await run_in_threadpool(owned_source, session, source_id, principal=principal)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        async for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            report = await run_in_threadpool(import_into_source, engine, source, spool, fmt=fmt, now=now)
        except ImportInterrupted as stopped:
            await run_in_threadpool(_audit_interrupted, session, source, stopped.report or ImportReport(),
                                    principal=principal, pepper=pepper, now=now)
            kept = stopped.report.imported if stopped.report else 0
            raise ImportStopped(f"The import stopped: {stopped.reason}.", imported=kept) from None
    code = await run_in_threadpool(lambda: require_department(session, principal).code)
    await run_in_threadpool(audit_import, session, source, report, actor=code, pepper=pepper, now=now)
    return ImportOut(source=source.id, total=report.total, imported=report.imported, failed=report.failed,
                     errors=[{"line": e.line, "message": e.message} for e in report.errors[:MAX_ERRORS_SHOWN]])


def _audit_interrupted(session: Session, source: Source, report: ImportReport, *, principal: Principal,
                       pepper: bytes, now: datetime) -> None:
    """Record the rows an interrupted import did write, committed now: the request itself fails."""
    audit_import(session, source, report, actor=require_department(session, principal).code, pepper=pepper,
                 now=now, interrupted=True)
    session.commit()


def owned_source(session: Session, source_id: str, *, principal: Principal) -> Source:
    """A source the calling department owns (others may read the catalogue, not write into it)."""
    source = get_source(session, source_id)
    if source.department_id != principal.department_id:
        raise Forbidden("Only the department that owns the source imports into it.")
    return source
