"""POST /verify: anonymous, rate-limited, async (the hot path of every counter).

The answer is serialised with orjson rather than a pydantic model: this route carries the counters' load, and
VerifyOut stays its OpenAPI description.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.auth.hot_routes import Call, HotRoute
from hub.core.wiring import services
from hub.verification.models import VerifyOut, VerifyRequest

router = APIRouter(tags=["verify"])


def _rate_limit(request: Request) -> None:
    hub = services(request)
    limit, address = hub.verify_limit, hub.client_addresses.of(request.scope)
    if not limit.hit("verify", address):
        raise limit.refusal("Too many verification requests from this address.", "verify", address)


VERIFY = HotRoute("POST", "/verify", body=VerifyRequest, response=VerifyOut, guard=_rate_limit,
                  summary="核验证照二维码 Verify a license QR code",
                  problems={429: "too many verifications from this client address"})


@VERIFY.serve(router)
async def verify(request: Request, call: Call[VerifyRequest]) -> Response:
    answer = await services(request).verification.check(call.body.qr)
    return Response(orjson.dumps(answer), media_type="application/json")
