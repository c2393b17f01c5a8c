"""POST /oauth/token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hub.auth.service import issue_token
from hub.core.db import SessionDep
from hub.core.errors import problem
from hub.core.http import read_form

router = APIRouter(tags=["auth"])


@router.post("/oauth/token", summary="OAuth2 client credentials token endpoint (RFC 6749 §4.4)")
async def token(request: Request, session: SessionDep) -> JSONResponse:
    form = await read_form(request)
    status, body, headers = await run_in_threadpool(
        issue_token, session, form, headers=request.headers, app_state=request.app.state
    )
    if status >= 400:
        # RFC 6749 §5.2 error members, carried inside an RFC 9457 problem.
        return problem(status, body.get("error", "invalid_request"), "OAuth2 error",
                       body.get("error_description") or body.get("error", ""), request.url.path, **body)
    return JSONResponse(body, status_code=status, headers=headers)
