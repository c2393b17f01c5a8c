"""POST /oauth/token, and the demo identity that gives citizens a token until the portal has a real login."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.auth.citizens import CITIZEN_SCOPE, mint_citizen_token
from hub.auth.metadata import TOKEN_OPENAPI
from hub.auth.service import issue_token
from hub.core.addresses import client_address
from hub.core.db import SessionDep
from hub.core.errors import problem
from hub.core.http import read_form
from hub.core.wiring import ServicesDep

router = APIRouter(tags=["auth"])


@router.post("/oauth/token", summary="OAuth2 client credentials token endpoint (RFC 6749 §4.4)",
             openapi_extra=TOKEN_OPENAPI)
async def token(request: Request, session: SessionDep, wiring: ServicesDep) -> JSONResponse:
    form = await read_form(request)
    status, body, headers = await run_in_threadpool(
        issue_token, session, form, headers=request.headers, address=client_address(request),
        throttle=wiring.token_throttle, settings=wiring.settings, jwk=wiring.token_jwk, now=wiring.clock())
    if status >= 400:
        # RFC 6749 §5.2 error members, carried inside an RFC 9457 problem.
        return problem(status, body.get("error", "invalid_request"), "OAuth2 error",
                       body.get("error_description") or body.get("error", ""), request.url.path,
                       headers={k: v for k, v in headers.items() if k.lower() == "www-authenticate"}, **body)
    return JSONResponse(body, status_code=status, headers=headers)


class CitizenLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resident_id: str = Field(min_length=18, max_length=18, description="公民身份号码 (GB 11643)")


demo_identity_router = APIRouter(tags=["demo identity"])


@demo_identity_router.post(
    "/demo/identity/token",
    summary="演示身份认证：为公民签发访问令牌 Demo identity: a citizen access token (HUB_DEMO_IDENTITY only)")
def demo_citizen_token(body: CitizenLogin, wiring: ServicesDep) -> dict:
    ttl = 900
    # Token lifetimes run on the system clock, like the tokens authlib issues (see hub.auth.tokens).
    token = mint_citizen_token(jwk=wiring.token_jwk, issuer=wiring.settings.public_url, resident_id=body.resident_id,
                               now=datetime.now(timezone.utc), ttl=ttl)
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": CITIZEN_SCOPE}
