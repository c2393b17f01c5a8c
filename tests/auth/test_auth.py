"""OAuth2 client credentials, access tokens and authorisation, on both backend pairs."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from hub.auth.clients import DEPARTMENT_SCOPES
from tests.conftest import bearer
from tests.support.licenses import business_license_request


def test_client_secret_basic_gives_an_rfc9068_access_token(hub, departments):
    client = departments["market"]["client"]
    response = hub.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client["client_id"], client["client_secret"]))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] == hub.settings.access_token_ttl
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    claims = jwt.decode(body["access_token"], hub.app.state.services.token_keys[header["kid"]], algorithms=["ES256"],
                        audience="http://localhost")
    assert claims["client_id"] == claims["sub"] == client["client_id"]
    assert set(claims["scope"].split()) == set(DEPARTMENT_SCOPES)
    assert claims["dept"] == departments["market"]["id"]


def test_client_secret_post_works_and_scope_can_be_narrowed(hub, departments):
    client = departments["civil"]["client"]
    response = hub.client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"], "scope": "licenses:read"})
    assert response.status_code == 200
    assert response.json()["scope"] == "licenses:read"


@pytest.mark.parametrize("form,auth,status,error", [
    ({"grant_type": "client_credentials"}, ("nobody", "x"), 401, "invalid_client"),
    ({"grant_type": "password", "username": "a", "password": "b"}, None, 400, "unsupported_grant_type"),
    ({"scope": "licenses:read"}, None, 400, "unsupported_grant_type"),
])
def test_token_endpoint_errors_are_problems_with_oauth_error_codes(hub, departments, form, auth, status, error):
    response = hub.client.post("/oauth/token", data=form, auth=auth)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"] == error


def test_wrong_secret_is_refused(hub, departments):
    client = departments["market"]["client"]
    response = hub.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client["client_id"], client["client_secret"] + "x"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_token_endpoint_wants_a_form(hub):
    response = hub.client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 415


def test_private_key_jwt_client_authentication(hub, departments):
    key = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1", "use": "sig", "alg": "ES256"}
    response = hub.client.post("/departments", headers=hub.operator_headers(), json={
        "code": "91350100M000100Y43", "name": "示例市数据管理局", "region": "示例市", "jwks": {"keys": [public]}})
    assert response.status_code == 201, response.text
    client_id = response.json()["client"]["client_id"]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "http://localhost/oauth/token",
              "exp": now + 60, "iat": now, "jti": uuid.uuid4().hex}
    assertion = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    first = hub.client.post("/oauth/token", data=form)
    assert first.status_code == 200, first.text
    replay = hub.client.post("/oauth/token", data=form)
    # RFC 6749 §5.2 allows 401 whichever way the client authenticated: every failure gets the same answer
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    forged = jwt.encode(claims | {"jti": uuid.uuid4().hex}, ec.generate_private_key(ec.SECP256R1()),
                        algorithm="ES256", headers={"kid": "k1"})
    refused = hub.client.post("/oauth/token", data=form | {"client_assertion": forged})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_no_token_is_401_with_a_bearer_challenge(hub, departments):
    response = hub.client.post("/licenses", json=business_license_request())
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:hub:problem:unauthorized"


def _token_signed_with(key, kid: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": "http://localhost", "aud": "http://localhost", "sub": "x", "client_id": "x",
              "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, "scope": "licenses:issue licenses:read",
              "role": "department", "dept": "x"} | overrides
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})


def test_expired_token_is_401(hub, departments):
    jwk = hub.app.state.services.token_jwk
    key = ECAlgorithm.from_jwk(json.dumps(jwk))
    token = _token_signed_with(key, jwk["kid"], exp=int(time.time()) - 120, iat=int(time.time()) - 900)
    response = hub.client.post("/licenses", json=business_license_request(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_token_signed_by_another_key_is_401(hub, departments):
    forged = _token_signed_with(ec.generate_private_key(ec.SECP256R1()), hub.app.state.services.token_jwk["kid"])
    response = hub.client.post("/licenses", json=business_license_request(), headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_alg_none_token_is_401(hub, departments):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "x", "scope": "licenses:issue"}).encode()).rstrip(b"=")
    token = f"{header}.{payload.decode()}."
    response = hub.client.post("/licenses", json=business_license_request(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_wrong_scope_is_403(hub, departments):
    headers = bearer(hub, departments["market"], scope="licenses:read")
    response = hub.client.post("/licenses", json=business_license_request(), headers=headers)
    assert response.status_code == 403 and response.json()["type"] == "urn:hub:problem:insufficient_scope"


def test_department_cannot_register_departments(hub, departments):
    response = hub.client.post("/departments", json={"code": "91110000802100433B", "name": "x", "region": "y"},
                               headers=bearer(hub, departments["market"]))
    assert response.status_code == 403


def test_operator_cannot_issue_licenses(hub, departments):
    response = hub.client.post("/licenses", json=business_license_request(), headers=hub.operator_headers())
    assert response.status_code == 403


def test_another_departments_license_is_404(hub, departments):
    issued = hub.client.post("/licenses", json=business_license_request(), headers=bearer(hub, departments["market"]))
    assert issued.status_code == 201, issued.text
    license_id = issued.json()["id"]
    other = bearer(hub, departments["civil"])
    for path in ("", "/qr.png", "/qr.svg"):
        assert hub.client.get(f"/licenses/{license_id}{path}", headers=other).status_code == 404
    assert hub.client.get(f"/licenses/{license_id}", headers=hub.operator_headers()).status_code == 200
