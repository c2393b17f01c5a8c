"""GET /status-lists/{id}: the signed W3C Bitstring Status List credentials, public and cacheable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.core.openapi import file_response
from hub.core.wiring import ServicesDep

router = APIRouter(tags=["status"])


@router.get("/status-lists/{list_id}", response_class=Response,
            summary="证照状态列表 Status list (BitstringStatusListCredential as vc+jwt, signed by the hub)",
            responses={**file_response("application/vc+jwt", "the status list credential as a compact JWS"),
                       304: {"description": "unchanged (If-None-Match)"}})
async def status_list(list_id: str, request: Request, wiring: ServicesDep) -> Response:
    token, version = await run_in_threadpool(wiring.status.signed, list_id[:80])
    etag = f'"{list_id}.{version}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60, must-revalidate"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(token, media_type="application/vc+jwt", headers=headers)
