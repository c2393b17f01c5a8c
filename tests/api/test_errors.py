"""Bad input everywhere: a clear 4xx problem, never a 500, and nothing changes."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from hub.licenses.tables import License
from hub.auth.tables import OAuthClient
from hub.departments.tables import Department
from hub.trust.tables import HubKey
from tests.conftest import bearer
from tests.support.licenses import business_license_request

GARBAGE = [b"", b"{", b"null", b"[]", b'"text"', b"12", b'{"a":', b"\xff\xfe\x00", "{\"名\": 1}".encode(),
           b'{"type": 5, "holder": [], "data": "x"}', b'{"qr": 12}', b'{"qr": null}', b"{" * 5000,
           b'{"code": "x", "name": 1}']


def _row_counts(hub) -> tuple[int, ...]:
    with hub.app.state.services.session_factory() as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (License, Department, OAuthClient, HubKey))


def _assert_problem(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].startswith("urn:hub:problem:") and body["status"] == response.status_code
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()


@pytest.fixture(scope="module")
def auth(hub, departments) -> dict[str, dict]:
    return {"operator": hub.operator_headers(), "market": bearer(hub, departments["market"])}


@pytest.mark.parametrize("path,who", [("/licenses", "market"), ("/departments", "operator"), ("/verify", None)])
def test_malformed_bodies_are_4xx_and_change_nothing(hub, auth, path, who):
    headers = {"Content-Type": "application/json"} | (auth[who] if who else {})
    before = _row_counts(hub)
    for body in GARBAGE:
        _assert_problem(hub.client.post(path, content=body, headers=headers), 400, 422)
    assert _row_counts(hub) == before


def test_random_bytes_never_cause_a_500(hub, auth):
    rng = random.Random(20261121)
    paths = ["/licenses", "/departments", "/verify", "/oauth/token"]
    for _ in range(60):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        path = rng.choice(paths)
        headers = {"Content-Type": rng.choice(["application/json", "application/x-www-form-urlencoded", "text/plain"])}
        headers |= auth["operator" if path == "/departments" else "market"]
        response = hub.client.post(path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, body, response.text)


def test_oversized_body_is_413_and_changes_nothing(hub, auth):
    before = _row_counts(hub)
    big = business_license_request(data={"address": "鼓" * 2_000_000})
    response = hub.client.post("/licenses", json=big, headers=auth["market"])
    _assert_problem(response, 413)
    streamed = hub.client.post("/verify", content=iter([b'{"qr": "', b"A" * 2_000_000, b'"}']),
                               headers={"Content-Type": "application/json"})
    _assert_problem(streamed, 413)
    assert _row_counts(hub) == before


def test_wrong_types_are_422_with_field_locations(hub, auth):
    request = business_license_request(holder={"id_type": "passport", "id": 123, "name": ""})
    response = hub.client.post("/licenses", json=request, headers=auth["market"])
    _assert_problem(response, 422)
    locations = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert ("body", "holder", "id_type") in locations and ("body", "holder", "id") in locations


@pytest.mark.parametrize("body", [
    {"code": "91350100M000100Y44", "name": "某局", "region": "示例市"},  # wrong check character
    {"code": "91350100M000100Y4", "name": "某局", "region": "示例市"},
    {"code": "91350100M000100Y43", "name": "  ", "region": "示例市"},
    {"code": "91350100M000100Y43", "name": "某局", "region": "示例市", "alg": "RS256"},
    {"code": "91350100M000100Y43", "name": "某局", "region": "示例市", "extra": 1},
    {"code": "91350100M000100Y43", "name": "某局", "region": "示例市", "jwks": {"keys": [{"kty": "oct", "k": "AA"}]}},
])
def test_invalid_department_is_422_and_creates_nothing(hub, auth, body):
    before = _row_counts(hub)
    _assert_problem(hub.client.post("/departments", json=body, headers=auth["operator"]), 422)
    assert _row_counts(hub) == before


def test_duplicate_department_is_409_and_creates_nothing(hub, auth, departments):
    before = _row_counts(hub)
    body = {"code": departments["market"]["code"], "name": "重复", "region": "示例市"}
    _assert_problem(hub.client.post("/departments", json=body, headers=auth["operator"]), 409)
    assert _row_counts(hub) == before


def test_unknown_routes_and_methods_are_problems(hub, auth):
    _assert_problem(hub.client.get("/no-such-thing"), 404)
    _assert_problem(hub.client.delete("/verify"), 405)


def test_malformed_bearer_tokens_are_401(hub):
    for value in ["Bearer", "Bearer ", "Basic abc", "Bearer a.b.c", "Bearer " + "x" * 5000, "bearer ...."]:
        _assert_problem(hub.client.post("/licenses", json={}, headers={"Authorization": value}), 401)


def test_bad_idempotency_key_is_422(hub, auth):
    headers = auth["market"] | {"Idempotency-Key": "k" * 201}
    _assert_problem(hub.client.post("/licenses", json=business_license_request(), headers=headers), 422)
