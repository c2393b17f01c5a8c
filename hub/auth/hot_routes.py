"""Hot routes, declared once: the OpenAPI operation and the fast path both come from one `HotRoute`.

A hot route is served ahead of FastAPI's router (hub.core.http.serve_ahead): no dependency runs, the body is
validated by pydantic-core straight from its bytes. What FastAPI would derive from a signature (the request
body, the headers, the path parameters, the security) is declared here instead, and both the documented
operation and the request parsing read that declaration, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from hub.auth.deps import authorise
from hub.auth.tokens import Principal
from hub.core.http import SERVED_AHEAD, header_value, parse_body, read_body
from hub.core.openapi import requires_token

BodyT = TypeVar("BodyT", bound=BaseModel)


@dataclass(frozen=True)
class Header:
    """An optional request header of 1 to max_length characters."""

    name: str
    max_length: int
    description: str

    def parameter(self) -> dict[str, Any]:
        return {"name": self.name, "in": "header", "required": False, "description": self.description,
                "schema": {"type": "string", "minLength": 1, "maxLength": self.max_length}}


@dataclass(frozen=True)
class Call(Generic[BodyT]):
    """One request to a hot route, read as its declaration says: who calls, the body, the declared headers."""

    principal: Principal | None
    body: BodyT
    headers: dict[str, str | None]
    path_params: dict[str, str]


Handler = Callable[[Request, Call], Awaitable[Response]]


@dataclass(frozen=True)
class HotRoute(Generic[BodyT]):
    """Path, method, request and response models, security and problems of a route served ahead."""

    method: str
    path: str
    body: type[BodyT]
    response: type[BaseModel]
    summary: str
    scope: str | None = None  # None: anonymous
    role: str | None = None
    status_code: int = 200
    headers: tuple[Header, ...] = ()
    path_params: dict[str, str] = field(default_factory=dict)  # name -> description
    problems: dict[int, str] = field(default_factory=dict)  # status -> which problem types
    guard: Callable[[Request], None] | None = None  # runs first, e.g. a rate limit

    def openapi_extra(self) -> dict[str, Any]:
        """The parts of the operation FastAPI cannot see in a handler that takes the Request alone."""
        extra: dict[str, Any] = {"requestBody": {"required": True, "content": {
            "application/json": {"schema": self.body.model_json_schema()}}}}
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                       "description": description} for name, description in self.path_params.items()]
        parameters += [header.parameter() for header in self.headers]
        if parameters:
            extra["parameters"] = parameters
        if self.scope is not None:
            extra |= requires_token(self.scope)
        return extra

    async def read(self, request: Request) -> Call[BodyT]:
        """Check the request as the operation documents it: guard, token and scope, headers, then the body."""
        if self.guard is not None:
            self.guard(request)
        principal = None if self.scope is None else await authorise(request, self.scope, role=self.role)
        headers = {h.name: header_value(request, h.name, max_length=h.max_length) for h in self.headers}
        body = parse_body(self.body, await read_body(request))
        return Call(principal=principal, body=body, headers=headers, path_params=request.path_params)

    def serve(self, router: APIRouter) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        """Register the handler on the router (its OpenAPI) and mark it to be served ahead of the router."""

        def register(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await handler(request, await self.read(request))

            endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
            setattr(endpoint, SERVED_AHEAD, self)
            router.add_api_route(
                self.path, endpoint, methods=[self.method], response_model=self.response,
                status_code=self.status_code, summary=self.summary, openapi_extra=self.openapi_extra(),
                responses={status: {"description": text} for status, text in self.problems.items()})
            return endpoint

        return register
