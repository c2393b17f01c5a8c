"""The OpenAPI description clients can use, completed from the route table in one place.

FastAPI describes what each route declares. This adds, for every operation, what the hub does around it:
- security: an operation whose dependencies demand a token (a dependency callable carrying `openapi_scopes`,
  see hub.auth.deps) declares the OAuth2 client-credentials scheme with those scopes, or HTTP bearer;
- problems: every 4xx it can return, as application/problem+json with the Problem schema (RFC 9457);
- references that resolve: schemas embedded by hand (a model's `model_json_schema()` in openapi_extra) keep
  their nested models under `$defs`, which a `#/$defs/...` reference cannot reach from inside an operation;
  they are moved into `components/schemas`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from hub.core.routes import api_routes

OAUTH2, BEARER = "OAuth2", "bearer"
SCOPES_ATTRIBUTE = "openapi_scopes"  # on a dependency: the scopes it demands (empty: any valid token)
PROBLEM_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
MUTATING = frozenset({"post", "put", "patch", "delete"})
PROBLEM_SCHEMA = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status"],
    "description": "RFC 9457 problem details; `type` is `urn:hub:problem:<code>`, stable for clients to match on. "
                   "Extension members (`errors`, OAuth2's `error`, `required_scope`, ...) may follow.",
    "properties": {
        "type": {"type": "string", "examples": ["urn:hub:problem:not_found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {"type": "array", "items": {"type": "object"},
                   "description": "one entry per invalid field (validation problems)"},
    },
    "additionalProperties": True,
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "the Bearer challenge (RFC 6750 §3)"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait (RFC 9110 §10.2.3)"}},
}


def security(scopes: Iterable[str], *, oauth2: bool = True) -> list[dict[str, list[str]]]:
    """Security requirements: an OAuth2 client-credentials token with the scopes, or any bearer token."""
    return ([{OAUTH2: sorted(scopes)}] if oauth2 else []) + [{BEARER: []}]


def requires_token(*scopes: str) -> dict[str, Any]:
    """openapi_extra for a route that authenticates inside its body (one served ahead of FastAPI's router)."""
    return {"security": security(scopes)}


def file_response(media_type: str, description: str) -> dict[int, dict[str, Any]]:
    """`responses` of a route answering with a file of one media type rather than JSON."""
    text = media_type.startswith("text/") or media_type.endswith(("+xml", "+jwt")) or media_type == "application/jose"
    schema = {"type": "string"} if text else {"type": "string", "format": "binary"}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


def install_openapi(app: FastAPI, *, token_url: str, scopes: Mapping[str, str]) -> None:
    """Make app.openapi() return the completed description (built once, on first request).

    `scopes` are those the token endpoint grants, each with what it allows.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), app.routes, token_url=token_url, scopes=scopes)
        return app.openapi_schema

    app.openapi = openapi


def complete(spec: dict[str, Any], routes: Iterable, *, token_url: str, scopes: Mapping[str, str]) -> dict[str, Any]:
    """Add security, problem responses and resolvable references to a generated description."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {
        OAUTH2: {"type": "oauth2", "description": f"Client credentials (RFC 6749 §4.4) at {token_url}",
                 "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(scopes)}}},
        BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "an access token (RFC 9068): from the token endpoint, or a citizen's sign-in"},
    }
    for route in api_routes(routes):
        if route.include_in_schema:
            for method in route.methods:
                operation = spec["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    _complete_operation(operation, route, method.lower(), scopes=scopes)
    _hoist_defs(spec)
    for name in ("HTTPValidationError", "ValidationError"):  # 422s are problems here, not FastAPI's body
        if f"#/components/schemas/{name}" not in references(spec):
            components["schemas"].pop(name, None)
    return spec


def _complete_operation(operation: dict[str, Any], route, method: str, *,
                        scopes: Mapping[str, str]) -> None:
    """Declare the operation's security and every 4xx it can return (those its route declares kept)."""
    demanded = _demanded_scopes(route.dependant)
    if demanded is not None and "security" not in operation:
        operation["security"] = security(demanded, oauth2=set(demanded) <= set(scopes))
    protected = bool(operation.get("security"))
    statuses = {422}  # any request can fail validation: a parameter, a header, a control character
    if protected:
        statuses |= {401, 403}
        if method in MUTATING:
            statuses.add(409)  # a repeated Idempotency-Key with another body, or a state that forbids the change
    if "{" in route.path_format or (protected and "requestBody" in operation):
        statuses.add(404)  # the path or the body names something that does not exist (or the caller may not see)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    responses = operation.setdefault("responses", {})
    statuses |= {int(code) for code in responses if code.isdigit() and 400 <= int(code) < 500}
    for status in sorted(statuses):
        described = responses.get(str(status), {})
        headers = {**_HEADERS.get(status, {}), **described.get("headers", {})}
        responses[str(status)] = {**described, "description": described.get("description") or HTTPStatus(status).phrase,
                                  "content": {PROBLEM_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
                                  **({"headers": headers} if headers else {})}


def _demanded_scopes(dependant) -> tuple[str, ...] | None:
    """The scopes the route's dependencies demand; None when none of them authenticates."""
    found: tuple[str, ...] | None = None
    for dependency in dependant.dependencies:
        for scopes in (getattr(dependency.call, SCOPES_ATTRIBUTE, None), _demanded_scopes(dependency)):
            if scopes is not None:
                found = (*(found or ()), *scopes)
    return None if found is None else tuple(dict.fromkeys(found))


def _hoist_defs(spec: dict[str, Any]) -> None:
    """Move `$defs` nested in the paths into components/schemas and point their references there."""
    schemas = spec["components"]["schemas"]
    found: dict[str, Any] = {}
    for node in _walk(spec["paths"]):
        for name, schema in node.pop("$defs", {}).items():
            if found.setdefault(name, schema) != schema:
                raise ValueError(f"two different embedded schemas are both named {name!r}")
    same = {name: name for name in found}
    targets = {}
    for name, schema in found.items():  # a different schema already under that name: take another name
        target, candidate = name, _with_refs(schema, same)
        while target in schemas and schemas[target] != candidate:
            target += "_"
        targets[name] = target
    for name, schema in found.items():
        schemas.setdefault(targets[name], _with_refs(schema, targets))
    spec["paths"] = _with_refs(spec["paths"], targets)


def _walk(node: Any):
    """Every dict in a JSON tree, parents before children."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _with_refs(node: Any, targets: Mapping[str, str]) -> Any:
    """A copy of the tree with `#/$defs/<name>` references pointing at components/schemas."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node = {**node, "$ref": "#/components/schemas/" + targets[ref.removeprefix("#/$defs/")]}
        return {key: _with_refs(value, targets) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_refs(value, targets) for value in node]
    return node


def references(spec: dict[str, Any]) -> set[str]:
    """Every `$ref` in the description."""
    return {node["$ref"] for node in _walk(spec) if isinstance(node.get("$ref"), str)}
