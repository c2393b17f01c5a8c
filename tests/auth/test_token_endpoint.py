"""POST /oauth/token under attack: one answer for every failed client authentication, failures rate-limited,
assertions and access tokens issued in the future or living too long refused."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from hub.bootstrap import initialise
from hub.main import create_app
from tests.conftest import make_settings
from tests.support.licenses import business_license_request

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT = {"grant_type": "client_credentials"}
KEY = ec.generate_private_key(ec.SECP256R1())


def _basic(raw: bytes) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class Ahead(int):
    """Seconds from the moment a token is signed (parameters are built at collection, minutes earlier)."""


def _at_signing(claims: dict, now: int) -> dict:
    return {name: now + value if isinstance(value, Ahead) else value for name, value in claims.items()}


def _assertion(client_id: str, key=KEY, algorithm: str = "ES256", **claims) -> dict:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": "http://localhost/oauth/token", "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex} | _at_signing(claims, now)
    token = jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm,
                       headers={"kid": "k1"})
    return GRANT | {"client_assertion": token, "client_assertion_type": ASSERTION_TYPE}


@pytest.fixture(scope="module")
def keyed(hub) -> dict:
    """A department client registered with a public key, for private_key_jwt."""
    public = ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "k1", "use": "sig", "alg": "ES256"}
    response = hub.client.post("/departments", headers=hub.operator_headers(), json={
        "code": "91350100M000100Y43", "name": "示例市数据管理局", "region": "示例市", "jwks": {"keys": [public]}})
    assert response.status_code == 201, response.text
    return response.json()["client"]


def _failed_attempts(known: dict, keyed: dict) -> dict[str, dict]:
    known_id, secret = known["client_id"], known["client_secret"]
    return {
        "unknown id, Basic": {"data": GRANT, "headers": _basic(b"depa-0000000000000000:" + secret.encode())},
        "known id, wrong secret, Basic": {"data": GRANT, "headers": _basic(f"{known_id}:{secret}x".encode())},
        "unknown id, form": {"data": GRANT | {"client_id": "nobody", "client_secret": secret}},
        "known id, wrong secret, form": {"data": GRANT | {"client_id": known_id, "client_secret": "x"}},
        "Basic not UTF-8": {"data": GRANT, "headers": _basic(b"\xff\xfe:\xfa")},
        "Basic not base64": {"data": GRANT, "headers": {"Authorization": "Basic %%%"}},
        "Basic without a colon": {"data": GRANT, "headers": _basic(known_id.encode())},
        "Basic with an escaped NUL": {"data": GRANT, "headers": _basic(b"a%00b:secret")},
        "Basic with a raw NUL": {"data": GRANT, "headers": _basic(b"a\x00b:secret")},
        "private_key_jwt, client without keys": {"data": _assertion(known_id)},
        "private_key_jwt, unknown id": {"data": _assertion("depa-0000000000000000")},
        "private_key_jwt, wrong key": {"data": _assertion(keyed["client_id"], key=ec.generate_private_key(ec.SECP256R1()))},
        "private_key_jwt, RSA key for an EC client": {
            "data": _assertion(keyed["client_id"], key=rsa.generate_private_key(65537, 2048), algorithm="RS256")},
        "private_key_jwt, HMAC": {"data": _assertion(keyed["client_id"], key="s" * 32, algorithm="HS256")},
        "private_key_jwt, sub not a string": {"data": _assertion(keyed["client_id"], sub=5)},
        "private_key_jwt, garbage": {"data": GRANT | {"client_assertion": "a.b.c", "client_assertion_type": ASSERTION_TYPE}},
    }


def test_every_failed_client_authentication_gets_the_same_401(hub, departments, keyed):
    answers = {}
    for case, request in _failed_attempts(departments["market"]["client"], keyed).items():
        response = hub.client.post("/oauth/token", **request)
        assert response.status_code == 401, (case, response.status_code, response.text)
        answers[case] = (response.text, response.headers["www-authenticate"], response.headers["content-type"])
    assert len(set(answers.values())) == 1, answers
    body = json.loads(next(iter(answers.values()))[0])
    assert body["error"] == "invalid_client" and body["type"] == "urn:hub:problem:invalid_client"


def test_a_client_with_keys_still_authenticates_with_its_assertion(hub, keyed):
    response = hub.client.post("/oauth/token", data=_assertion(keyed["client_id"]))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("claims", [
    {"iat": Ahead(600), "exp": Ahead(660)},  # issued ten minutes ahead
    {"exp": Ahead(3600)},  # an hour's life: over client_assertion_max_lifetime (300 s)
    {"iat": None, "exp": Ahead(3600)},  # no iat: the life left counts
    {"iat": "yesterday"},
])
def test_assertions_from_the_future_or_living_too_long_are_refused(hub, keyed, claims):
    response = hub.client.post("/oauth/token", data=_assertion(keyed["client_id"], **claims))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client", response.text


def _signed_access_token(hub, **claims) -> str:
    jwk = hub.app.state.services.token_jwk
    now = int(time.time())
    body = {"iss": "http://localhost", "aud": "http://localhost", "sub": "x", "client_id": "x", "iat": now,
            "exp": now + 300, "jti": uuid.uuid4().hex, "scope": "licenses:issue", "role": "department",
            "dept": "x"} | _at_signing(claims, now)
    return jwt.encode(body, ECAlgorithm.from_jwk(json.dumps(jwk)), algorithm="ES256",
                      headers={"kid": jwk["kid"], "typ": "at+jwt"})


@pytest.mark.parametrize("claims,words", [
    ({"iat": Ahead(600), "exp": Ahead(900)}, "future"),
    ({"exp": Ahead(7 * 86400)}, "longer than"),
    ({"iat": "now"}, "iat"),
])
def test_access_tokens_from_the_future_or_living_too_long_are_refused(hub, departments, claims, words):
    token = _signed_access_token(hub, **claims)
    response = hub.client.post("/licenses", json=business_license_request(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and words in response.json()["detail"], response.text


def test_an_access_token_within_the_skew_is_accepted(hub, departments):
    market = departments["market"]
    token = _signed_access_token(hub, iat=int(time.time()) + 10, client_id=market["client"]["client_id"],
                                 dept=market["id"])
    response = hub.client.post("/licenses", json=business_license_request(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text


# --- failure limits: a hub of their own, with small limits ----------------------------------------------------


@pytest.fixture
def limited(tmp_path, request):
    settings = make_settings("sqlite+files", tmp_path, request)
    settings.token_failure_limit_per_client = "3/minute"
    settings.token_failure_limit_per_address = "6/minute"
    operator = initialise(settings)
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", client=("192.0.2.1", 5000)) as client:
        department = client.post("/departments", json={"code": "11990100MB0000019L", "name": "示例市市场监督管理局",
                                                       "region": "示例市"}, headers=_operator(client, operator))
        assert department.status_code == 201, department.text
        yield app, client, department.json()["client"], operator


def _operator(client, operator) -> dict:
    token = client.post("/oauth/token", data=GRANT, auth=(operator["client_id"], operator["client_secret"]))
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _token(client, client_id: str, secret: str) -> int:
    return client.post("/oauth/token", data=GRANT, auth=(client_id, secret)).status_code


def _assert_429(response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["type"] == "urn:hub:problem:rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_failures_past_the_limit_for_one_client_id_are_429_but_its_own_login_still_works(limited):
    _, client, credentials, _ = limited
    client_id, secret = credentials["client_id"], credentials["client_secret"]
    assert [_token(client, client_id, "wrong") for _ in range(3)] == [401] * 3
    _assert_429(client.post("/oauth/token", data=GRANT, auth=(client_id, "wrong")))
    assert _token(client, client_id, secret) == 200  # nobody can lock a department out by failing on its id
    assert _token(client, "depa-1111111111111111", "wrong") == 401  # another id has its own count


def test_unknown_ids_are_limited_exactly_like_known_ones(limited):
    _, client, _, _ = limited
    assert [_token(client, "depa-2222222222222222", "x") for _ in range(4)] == [401, 401, 401, 429]


def test_an_address_past_its_limit_is_refused_until_the_window_passes(limited):
    app, client, credentials, _ = limited
    assert [_token(client, f"depa-{n:016d}", "x") for n in range(6)] == [401] * 6
    _assert_429(client.post("/oauth/token", data=GRANT, auth=(credentials["client_id"], credentials["client_secret"])))
    elsewhere = TestClient(app, base_url="http://localhost", client=("192.0.2.2", 5000))  # the app is running
    assert _token(elsewhere, credentials["client_id"], credentials["client_secret"]) == 200


def test_successful_logins_are_not_counted(limited):
    _, client, credentials, _ = limited
    assert {_token(client, credentials["client_id"], credentials["client_secret"]) for _ in range(10)} == {200}
    assert _token(client, credentials["client_id"], "wrong") == 401
