"""The routes served ahead of FastAPI's router keep the contract /openapi.json documents for them.

For each hot route the test reads the operation from the served /openapi.json (not from the declaration) and
checks the fast path against it: the security it names (401 without a token, 403 without the scope, and no
token needed where none is named), a problem for every body the request schema refuses, and real answers
that validate against the documented response schema.
"""

from __future__ import annotations

import copy

import jsonschema
import pytest
from starlette.routing import Route

from hub.core.errors import PROBLEM_BASE
from hub.core.http import SERVED_AHEAD
from tests.conftest import bearer
from tests.support.exchange_helpers import citizens, register_household
from tests.support.licenses import business_license_request

PURPOSE = "办理婚姻登记：核验户籍信息"
QUERY_PATH = "/exchange/{source_id}/query"
HOT = {("POST", "/licenses"), ("POST", "/verify"), ("POST", QUERY_PATH)}


@pytest.fixture(scope="module")
def spec(hub) -> dict:
    response = hub.client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def world(hub, departments, request) -> dict:
    """A license to verify, a granted source to query, and a token of each kind."""
    register_household(hub, departments, request)
    grant = hub.client.post("/grants", json={"source": "household.residents", "fields": ["name"], "purpose": PURPOSE,
                                             "legal_basis": "《婚姻登记条例》第五条"}, headers=bearer(hub, departments["civil"]))
    assert grant.status_code == 201, grant.text
    approved = hub.client.post(f"/grants/{grant.json()['id']}/approve", headers=bearer(hub, departments["police"]))
    assert approved.status_code == 200, approved.text
    issued = hub.client.post("/licenses", json=business_license_request(), headers=bearer(hub, departments["market"]))
    assert issued.status_code == 201, issued.text
    return {"qr": issued.json()["qr"], "subject": citizens(1)[0].resident_id}


def _requests(hub, departments, world) -> dict[tuple[str, str], dict]:
    """Per hot route: the URL, a good body, the headers of a caller allowed to call it."""
    return {
        ("POST", "/licenses"): {"url": "/licenses", "body": business_license_request(),
                                "headers": bearer(hub, departments["market"])},
        ("POST", "/verify"): {"url": "/verify", "body": {"qr": world["qr"]}, "headers": {}},
        ("POST", QUERY_PATH): {"url": "/exchange/household.residents/query",
                               "body": {"subject": world["subject"], "fields": ["name"], "purpose": PURPOSE},
                               "headers": bearer(hub, departments["civil"])},
    }


def _resolve(spec: dict, schema: dict) -> dict:
    """The schema with the description's components beside it, so that its $refs resolve."""
    return {**schema, "components": spec.get("components", {})}


def _deref(spec: dict, schema: dict) -> dict:
    """The schema a top-level $ref points at in the description's components."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _problem_code(response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["type"].removeprefix(PROBLEM_BASE)


def test_the_hot_routes_are_those_served_ahead(hub):
    plain = [route for route in hub.app.router.routes if type(route) is Route]
    ahead = {(method, route.path) for route in plain if getattr(route.endpoint, SERVED_AHEAD, None)
             for method in route.methods if method != "HEAD"}
    assert ahead == HOT
    routes = hub.app.router.routes  # ahead of every route FastAPI declared (the constant /health probe may lead)
    first_declared = next(i for i, route in enumerate(routes) if type(route) is not Route)
    assert {(method, route.path) for route in routes[:first_declared] if getattr(route.endpoint, SERVED_AHEAD, None)
            for method in route.methods if method != "HEAD"} == HOT


@pytest.mark.parametrize("method, path", sorted(HOT))
def test_the_fast_path_asks_for_the_documented_token_and_scope(hub, departments, world, spec, method, path):
    operation = spec["paths"][path][method.lower()]
    call = _requests(hub, departments, world)[(method, path)]
    anonymous = hub.client.request(method, call["url"], json=call["body"])
    if not operation.get("security"):
        assert anonymous.status_code < 400, anonymous.text  # documented as open: no token needed
        return
    scopes = {scope for requirement in operation["security"] for named in requirement.values() for scope in named}
    assert anonymous.status_code == 401 and _problem_code(anonymous) == "unauthorized"
    assert "401" in operation["responses"] and "403" in operation["responses"]
    bad = hub.client.request(method, call["url"], json=call["body"], headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401
    other = next(scope for scope in ("sources:read", "licenses:read") if scope not in scopes)
    unscoped = hub.client.request(method, call["url"], json=call["body"],
                                  headers=bearer(hub, departments["market"], other))
    assert unscoped.status_code == 403 and _problem_code(unscoped) == "insufficient_scope", unscoped.text


def _invalid_bodies(schema: dict, good: dict) -> list[object]:
    """Bodies the documented request schema refuses: not an object, an unknown member, each required member
    missing, each string member of the wrong type."""
    bodies: list[object] = [[good]]
    if schema.get("additionalProperties") is False:
        bodies.append(good | {"not_a_member": 1})
    for name in schema.get("required", []):
        bodies.append({k: v for k, v in good.items() if k != name})
    for name, member in schema["properties"].items():
        if name in good and member.get("type") == "string":
            bodies.append(good | {name: 12345})
            if "maxLength" in member:
                bodies.append(good | {name: "A" * (member["maxLength"] + 1)})
    return bodies


@pytest.mark.parametrize("method, path", sorted(HOT))
def test_the_fast_path_refuses_what_the_request_schema_refuses(hub, departments, world, spec, method, path):
    operation = spec["paths"][path][method.lower()]
    schema = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    call = _requests(hub, departments, world)[(method, path)]
    validator = jsonschema.Draft202012Validator(schema)
    assert "422" in operation["responses"]
    for body in _invalid_bodies(_deref(spec, schema), call["body"]):
        assert not validator.is_valid(body), body  # the description refuses it ...
        response = hub.client.request(method, call["url"], json=copy.deepcopy(body), headers=call["headers"])
        assert response.status_code == 422, (body, response.text)  # ... and so does the fast path
        assert _problem_code(response) == "validation_error"
    broken = hub.client.request(method, call["url"], content=b"{not json", headers=call["headers"]
                                | {"content-type": "application/json"})
    assert broken.status_code == 400 and _problem_code(broken) == "bad_request"


@pytest.mark.parametrize("method, path", sorted(HOT))
def test_real_answers_match_the_documented_response_schema(hub, departments, world, spec, method, path):
    operation = spec["paths"][path][method.lower()]
    call = _requests(hub, departments, world)[(method, path)]
    response = hub.client.request(method, call["url"], json=call["body"], headers=call["headers"])
    assert str(response.status_code) in operation["responses"], response.text
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _resolve(spec, schema), cls=jsonschema.Draft202012Validator)
