"""POST /verify: anonymous, rate-limited, async (the hot path of every counter).

The body is parsed and the answer serialised with orjson rather than pydantic models: this route
carries the counters' load, and the models stay only as its OpenAPI description.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.core.addresses import client_address
from hub.core.errors import ValidationFailed
from hub.core.http import read_json
from hub.licenses.verification import verify_online
from hub.licenses.verify_models import VerifyOut, VerifyRequest

router = APIRouter(tags=["verify"])
MAX_QR = VerifyRequest.model_fields["qr"].metadata[0].max_length
REQUEST_SCHEMA = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": VerifyRequest.model_json_schema()}}}}


def _qr_text(body: object) -> str:
    if not isinstance(body, dict) or set(body) != {"qr"} or not isinstance(body["qr"], str):
        raise ValidationFailed('The body must be {"qr": "HUB1:..."}.')
    if len(body["qr"]) > MAX_QR:
        raise ValidationFailed(f"qr must be at most {MAX_QR} characters.")
    return body["qr"]


@router.post("/verify", response_model=VerifyOut, openapi_extra=REQUEST_SCHEMA,
             summary="核验证照二维码 Verify a license QR code",
             responses={429: {"description": "too many verifications from this client address"}})
async def verify(request: Request) -> Response:
    state = request.app.state
    address = client_address(request)
    if not state.verify_limit.hit("verify", address):
        raise state.verify_limit.refusal("Too many verification requests from this address.", "verify", address)
    qr = _qr_text(await read_json(request))
    return Response(orjson.dumps(await verify_online(qr, state)), media_type="application/json")
