"""Take in a batch file: check it, store it, create its job and enqueue it, once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from hub.auth.tokens import Principal
from hub.batch.parse import EmptyBatch, batch_format, count_rows
from hub.batch.tables import BatchJob
from hub.core.db import after_commit, new_id
from hub.core.idempotency import IdempotencyConflict, remember, replayed
from hub.core.storage.base import ObjectStore

log = logging.getLogger("hub.batch")
INPUT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
BATCH = "batch"  # the idempotency records' operation of batch submissions


class BatchIdempotencyConflict(IdempotencyConflict):
    title = "Idempotency-Key reused with a different batch file"
    reused = "This Idempotency-Key was already used with another batch file."
    concurrent = "A batch with this Idempotency-Key is already being submitted."


def submit_batch(session: Session, data: bytes, content_type: str | None, *, principal: Principal,
                 store: ObjectStore, enqueue: Callable[[str], None], idempotency_key: str | None,
                 now: datetime) -> tuple[BatchJob, bool]:
    """Check the file, store it and create its job; returns the job and whether it is new."""
    fmt = batch_format(content_type)
    digest = hashlib.sha256(fmt.encode() + b"\n" + data).hexdigest()
    known = replayed(session, client_id=principal.client_id, key=idempotency_key, operation=BATCH, digest=digest,
                     conflict=BatchIdempotencyConflict)
    if known is not None:
        return session.get(BatchJob, known), False
    if not data.strip():
        raise EmptyBatch("The batch file is empty.")
    total = count_rows(data, fmt)
    job_id = new_id()
    job = BatchJob(id=job_id, department_id=principal.department_id, client_id=principal.client_id, format=fmt,
                   total=total, input_key=f"batches/{job_id}/input", input_bytes=len(data), created_at=now)
    session.add(job)
    remember(session, client_id=principal.client_id, key=idempotency_key, operation=BATCH, digest=digest,
             resource_id=job_id, now=now, conflict=BatchIdempotencyConflict)
    session.info.setdefault("written_objects", []).append((store, job.input_key))
    store.put(job.input_key, data, content_type=INPUT_TYPES[fmt])
    after_commit(session, lambda: enqueue(job_id))
    log.info("batch %s: %d rows (%s) from %s", job_id, total, fmt, principal.client_id)
    return job, True
