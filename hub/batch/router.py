"""Batch issuance: submit a CSV or JSONL file, then follow its job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from hub.auth.deps import IssuerDep, ReaderDep
from hub.batch import service
from hub.batch.submit import submit_batch
from hub.batch.models import JobOut
from hub.core.db import SessionDep
from hub.core.wiring import ServicesDep

router = APIRouter(tags=["batches"])
MAX_UPLOAD_BYTES = 40 * 1024 * 1024  # give RequestGuard this for /licenses/batch
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str | None


async def read_upload(request: Request) -> Upload:
    """Read the raw request body (the body limit middleware has already capped its size)."""
    return Upload(data=await request.body(), content_type=request.headers.get("content-type"))


UploadDep = Annotated[Upload, Depends(read_upload)]
_BODY = {"content": {"text/csv": {"schema": {"type": "string"}},
                     "application/x-ndjson": {"schema": {"type": "string"}}}, "required": True}


@router.post("/licenses/batch", response_model=JobOut, status_code=202, openapi_extra={"requestBody": _BODY},
             summary="批量签发 Issue licenses from a CSV or JSONL file")
def submit(wiring: ServicesDep, response: Response, principal: IssuerDep, upload: UploadDep, session: SessionDep,
           idempotency_key: IdempotencyKey = None) -> JobOut:
    job, created = submit_batch(
        session, upload.data, upload.content_type, principal=principal, store=wiring.store,
        enqueue=wiring.batch.enqueue, idempotency_key=idempotency_key, now=wiring.clock(),
    )
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/jobs/{job.id}"
    return service.job_out(session, job, offset=0, limit=0, base_url=wiring.settings.public_url)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="批量任务进度 A batch job: progress and failed rows")
def read(job_id: str, wiring: ServicesDep, session: SessionDep, principal: ReaderDep,
         offset: Annotated[int, Query(ge=0, description="skip this many failed rows")] = 0,
         limit: Annotated[int, Query(ge=0, le=1000, description="failed rows to return")] = 100) -> JobOut:
    job = service.get_job(session, job_id, principal=principal)
    return service.job_out(session, job, offset=offset, limit=limit, base_url=wiring.settings.public_url)
