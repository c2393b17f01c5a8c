"""Public trust material: issuer keys and the signed trust list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

router = APIRouter(tags=["trust"])
CACHE = {"Cache-Control": "public, max-age=60"}


@router.get("/.well-known/jwks.json", summary="Issuer public keys (JWK set with x5c)")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(request.app.state.trust.jwks), headers=CACHE)


@router.get("/trust-list", summary="受信签发机构列表 Trust list, signed by the hub root CA")
async def trust_list(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(request.app.state.trust.signed), headers=CACHE)
