"""How clients find the token endpoint: RFC 8414 metadata and the scopes it grants."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hub.auth.clients import DEPARTMENT_SCOPES, OPERATOR_SCOPES
from hub.auth.server import AUTH_METHODS

router = APIRouter(tags=["auth"])
TOKEN_PATH = "/oauth/token"
# What each scope lets a client do; the OpenAPI description and the metadata list exactly these.
SCOPES = {
    "licenses:issue": "issue, change and re-issue the department's e-licenses (department)",
    "licenses:read": "read e-licenses, their files and batch jobs (department: its own; operator: all)",
    "sources:read": "browse the data catalogue and grants",
    "sources:write": "register and change the department's data sources; decide grants on them (department)",
    "exchange:query": "ask for grants and consents, query sources (department)",
    "departments:write": "register departments (operator)",
    "departments:read": "list departments (operator)",
}
# private_key_jwt assertions: what authlib (joserfc) accepts with the public keys a client registers.
ASSERTION_ALGS = ["ES256", "RS256"]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2, the members this hub serves."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str


def metadata(issuer: str) -> AuthorizationServerMetadata:
    """Describe the token endpoint of the hub whose tokens name `issuer`."""
    return AuthorizationServerMetadata(
        issuer=issuer, token_endpoint=issuer + TOKEN_PATH, jwks_uri=f"{issuer}/.well-known/jwks.json",
        grant_types_supported=["client_credentials"],
        response_types_supported=[],  # no authorization endpoint: client credentials only
        token_endpoint_auth_methods_supported=list(AUTH_METHODS),
        token_endpoint_auth_signing_alg_values_supported=ASSERTION_ALGS,
        scopes_supported=sorted({*DEPARTMENT_SCOPES, *OPERATOR_SCOPES}), service_documentation=f"{issuer}/docs",
    )


@router.get("/.well-known/oauth-authorization-server", response_model=AuthorizationServerMetadata,
            summary="OAuth 2.0 authorization server metadata (RFC 8414): the token endpoint, its methods and scopes")
async def authorization_server_metadata(request: Request) -> JSONResponse:
    body = metadata(request.app.state.settings.public_url).model_dump()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=3600"})

