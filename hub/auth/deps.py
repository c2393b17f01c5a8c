"""Route dependencies: the authenticated principal, and scope checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.auth.tokens import Principal, verify_access_token
from hub.core.errors import Forbidden, InsufficientScope, Unauthorized
from hub.core.wiring import services


async def current_principal(request: Request) -> Principal:
    """Authenticate the bearer token (RFC 6750 §2.1); async: CPU only, and a thread hop costs more than it does."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer access token is required: get one from POST /oauth/token.")
    wiring = services(request)
    settings = wiring.settings
    return verify_access_token(token.strip(), keys=wiring.token_keys, issuer=settings.public_url,
                               cache=wiring.token_cache, skew=settings.token_clock_skew,
                               max_lifetime=settings.token_max_lifetime)


current_principal.openapi_scopes = ()  # read by hub.core.openapi: the operation declares its security
PrincipalDep = Annotated[Principal, Depends(current_principal)]


def check_scope(principal: Principal, scope: str, role: str | None = None) -> Principal:
    """Return the principal if it holds the scope (and the role); raise 403 otherwise."""
    if scope not in principal.scopes:
        raise InsufficientScope(f"This call needs the scope {scope!r}.", required_scope=scope)
    if role is not None and principal.role != role:
        raise Forbidden(f"This call is reserved for the {role} role.")
    return principal


async def authorise(request: Request, scope: str, *, role: str | None = None) -> Principal:
    """Authenticate and check the scope in the route itself: for hot routes, where each dependency level
    costs FastAPI a parameter-solving pass (path, query, headers, cookies) per request."""
    return check_scope(await current_principal(request), scope, role)


def require_scope(scope: str, *, role: str | None = None):
    """Build a dependency that demands a scope (and optionally a role)."""

    async def check(principal: PrincipalDep) -> Principal:
        return check_scope(principal, scope, role)

    check.openapi_scopes = (scope,)
    return Depends(check)


OperatorDep = Annotated[Principal, require_scope("departments:write", role="operator")]
IssuerDep = Annotated[Principal, require_scope("licenses:issue", role="department")]
ReaderDep = Annotated[Principal, require_scope("licenses:read")]
CitizenDep = Annotated[Principal, require_scope("me", role="citizen")]
CatalogueDep = Annotated[Principal, require_scope("sources:read")]
SourceOwnerDep = Annotated[Principal, require_scope("sources:write", role="department")]
RequesterDep = Annotated[Principal, require_scope("exchange:query", role="department")]
