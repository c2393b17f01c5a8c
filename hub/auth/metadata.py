"""How clients find and call the token endpoint: RFC 8414 metadata, its scopes, its OpenAPI description."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hub.auth.clients import DEPARTMENT_SCOPES, OPERATOR_SCOPES
from hub.auth.server import AUTH_METHODS
from hub.core.wiring import ServicesDep

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
async def authorization_server_metadata(wiring: ServicesDep) -> JSONResponse:
    body = metadata(wiring.settings.public_url).model_dump()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=3600"})


def _form_field(description: str, **schema) -> dict:
    return {"type": "string", "description": description, **schema}


# The token request (RFC 6749 §4.4.2), with the client's credentials for client_secret_post or private_key_jwt.
TOKEN_FORM = {
    "type": "object", "required": ["grant_type"], "properties": {
        "grant_type": _form_field("always client_credentials", enum=["client_credentials"]),
        "scope": _form_field("space-separated; default: every scope the client holds"),
        "client_id": _form_field("client_secret_post (or send it with HTTP Basic: client_secret_basic)"),
        "client_secret": _form_field("client_secret_post"),
        "client_assertion_type": _form_field("private_key_jwt (RFC 7523 §2.2)",
                                             enum=["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]),
        "client_assertion": _form_field("private_key_jwt: a JWT signed with a key the client registered"),
    },
}


class TokenResponse(BaseModel):
    """RFC 6749 §5.1; the access token is an RFC 9068 JWT signed by the key in the JWKS with its kid."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


# The token route parses its form itself (hub.core.http.read_form): describe the form and answers here.
TOKEN_OPENAPI = {
    "requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": TOKEN_FORM}}},
    "responses": {
        "200": {"description": "an access token", "content": {
            "application/json": {"schema": TokenResponse.model_json_schema()}}},
        "400": {"description": "invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)"},
        "401": {"description": "invalid_client: unknown client, bad credentials or method"},
        "429": {"description": "too many failed attempts"},
    },
}
