"""Public trust material: the root certificate to pin, issuer and token keys, the signed trust list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.trust.models import TrustAnchorOut
from hub.core.wiring import ServicesDep, services

router = APIRouter(tags=["trust"])
CACHE = {"Cache-Control": "public, max-age=60"}
ANCHOR_CACHE = "public, max-age=3600"
PEM_TYPES = ("application/x-pem-file", "application/pem-certificate-chain")  # the latter: RFC 8555 §9.1
JWS_TYPE = "application/jose"  # a JWS in compact serialisation, RFC 7515 §9.2.1
_PEM = {"schema": {"type": "string", "pattern": "^-----BEGIN CERTIFICATE-----"}}
_JWS = {"schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"}}


@router.get("/.well-known/jwks.json", summary="Issuer and access-token public keys (JWK set, each with x5c)")
async def jwks(wiring: ServicesDep) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(wiring.trust.jwks), headers=CACHE)


@router.get("/trust-list", response_class=Response,
            summary="受信签发机构列表 Trust list: a compact JWS signed by the hub root CA (see /trust-anchor)",
            responses={200: {"content": {JWS_TYPE: _JWS}, "description": "the JWS (docs/qr-format.md section 7)"}})
async def trust_list(wiring: ServicesDep) -> Response:
    return Response(await run_in_threadpool(wiring.trust.signed), media_type=JWS_TYPE, headers=CACHE)


async def _anchor(request: Request, *, pem: bool) -> Response:
    anchor = await run_in_threadpool(services(request).trust.anchor)
    etag = '"' + anchor.fingerprint_sha256.replace(":", "").lower() + '"'
    headers = {"Cache-Control": ANCHOR_CACHE, "ETag": etag, "Vary": "Accept"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if pem:
        return Response(anchor.pem, media_type=PEM_TYPES[0], headers=headers)
    return JSONResponse(anchor.as_json(), headers=headers)


def _wants_pem(accept: str) -> bool:
    """True when Accept prefers a PEM type to JSON (RFC 9110 §12.5.1: highest q first, then listed order)."""
    ranked = []
    for position, part in enumerate(accept.split(",")):
        media_type, *params = (p.strip().lower() for p in part.split(";"))
        q = _quality(next((p[2:] for p in params if p.startswith("q=")), "1"))
        if q > 0:
            ranked.append((-q, position, media_type))
    for _, _, media_type in sorted(ranked):
        if media_type in PEM_TYPES:
            return True
        if media_type in ("application/json", "application/*", "*/*"):
            return False
    return False


def _quality(value: str) -> float:
    """A q-value, or 0 (not acceptable) when it is not one."""
    return float(value) if value.replace(".", "", 1).isdigit() and float(value) <= 1 else 0.0


@router.get("/trust-anchor", response_model=TrustAnchorOut,
            summary="信任锚 The hub root CA certificate and its SHA-256 fingerprint, for verifiers to pin",
            responses={200: {"content": {PEM_TYPES[0]: _PEM}}, 304: {"description": "unchanged (If-None-Match)"}})
async def trust_anchor(request: Request) -> Response:
    """JSON by default; the PEM alone with `Accept: application/x-pem-file` (or at /trust-anchor.pem)."""
    return await _anchor(request, pem=_wants_pem(request.headers.get("accept", "")))


@router.get("/trust-anchor.pem", response_class=Response,
            summary="信任锚 The hub root CA certificate (PEM)",
            responses={200: {"content": {PEM_TYPES[0]: _PEM}, "description": "the certificate"},
                       304: {"description": "unchanged (If-None-Match)"}})
async def trust_anchor_pem(request: Request) -> Response:
    return await _anchor(request, pem=True)
