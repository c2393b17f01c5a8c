"""The app's route table as one flat list, whichever way FastAPI keeps included routers; constant routes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse
from starlette.routing import Route


def flat_routes(routes: Iterable) -> Iterator:
    """Every route, included routers' routes in place (FastAPI ≥ 0.165 keeps included routers unflattened)."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    return iter(routes) if contexts is None else contexts(routes)


def api_routes(routes: Iterable) -> Iterator:
    """The FastAPI routes, those the OpenAPI description is made from."""
    return (route for route in flat_routes(routes) if isinstance(getattr(route, "original_route", route), APIRoute))


def allowed_methods(routes: Iterable, path: str) -> list[str]:
    """The methods some route answers on this path: what a 405's Allow lists (RFC 9110 §15.5.6).

    A route with a literal path hides templated ones that also match (`/licenses/batch` over
    `/licenses/{license_id}`), as OpenAPI matches paths.
    """
    matching = [route for route in flat_routes(routes)
                if getattr(route, "methods", None) and getattr(route, "path_regex", None) is not None
                and route.path_regex.match(path)]
    literal = [route for route in matching if "{" not in getattr(route, "path", "{")]
    return sorted({method for route in literal or matching for method in route.methods})


def constant_get(path: str, body: dict) -> Route:
    """A GET route that answers the same JSON every time, to place ahead of the router for a probe.

    The response is rendered once and is itself the ASGI app: a request costs no route search through the
    included routers, no request object, no dependency solving and no serialisation. GET alone, as the FastAPI
    route that documents it (Starlette would add HEAD).
    """
    route = Route(path, JSONResponse(body), methods=["GET"])
    route.methods = {"GET"}
    return route
