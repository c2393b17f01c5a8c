"""POST /verify: anonymous, rate-limited, async (the hot path of every counter)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hub.core.errors import TooManyRequests, ValidationFailed
from hub.core.http import read_json
from hub.verify.models import VerifyOut, VerifyRequest
from hub.verify.service import verify_for_counter

router = APIRouter(tags=["verify"])


@router.post("/verify", response_model=VerifyOut, summary="核验证照二维码 Verify a license QR code")
async def verify(request: Request) -> Response:
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    if not state.verify_limiter.hit(state.verify_limit, "verify", client):
        raise TooManyRequests("Too many verification requests from this address; retry in a minute.")
    try:
        body = VerifyRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        raise ValidationFailed("The body must be {\"qr\": \"HUB1:...\"} (at most 4096 characters).",
                               errors=exc.errors(include_url=False, include_context=False)) from exc
    trust = state.trust.trust() if state.trust.fresh else await run_in_threadpool(state.trust.trust)
    result = verify_for_counter(body.qr, trust, now=state.clock())
    return Response(result.model_dump_json(), media_type="application/json")
