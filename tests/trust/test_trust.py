"""Trust material: root CA, issuer certificates, JWKS, the signed trust list, keys encrypted at rest."""

from __future__ import annotations

import base64
import subprocess

import jwt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from hub.trust.tables import HubKey
from license_verifier.trustlist import TrustList, TrustListError, verify_trust_list
from tests.conftest import BACKENDS, DEMO_DEPARTMENTS, bearer, start_hub
from tests.support.licenses import no_crime_request


def _root_der(hub) -> bytes:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root"))


def test_issuer_certificates_chain_to_the_root(hub, departments):
    root = x509.load_der_x509_certificate(_root_der(hub))
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    keys = hub.client.get("/.well-known/jwks.json").json()["keys"]
    assert {k["kid"] for k in keys} >= {d["issuer_kid"] for d in departments.values()}
    for key in keys:
        cert = x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0]))
        cert.verify_directly_issued_by(root)
        assert key["alg"] == "ES256" and key["kty"] == "EC" and "d" not in key


def test_trust_list_is_a_compact_jws_signed_by_the_root_listing_every_issuer(hub, departments):
    response = hub.client.get("/trust-list")
    assert response.status_code == 200 and "max-age" in response.headers["cache-control"]
    assert response.headers["content-type"] == "application/jose"
    assert response.text.count(".") == 2 and not response.text.startswith("{")  # no unsigned copy beside it
    document = verify_trust_list(response.text, _root_der(hub))
    codes = {i["department"]["code"] for i in document["issuers"]}
    assert {d["code"] for d in departments.values()} <= codes
    market = next(i for i in document["issuers"] if i["department"]["code"] == departments["market"]["code"])
    assert market["license_types"] == ["11100000000013338W001"]
    assert TrustList.from_document(document).issuers


def test_trust_list_signed_by_another_root_is_refused(hub, departments):
    from hub.trust.certs import make_root

    other = make_root(hub.clock())
    with pytest.raises(TrustListError):
        verify_trust_list(hub.client.get("/trust-list").text, other.cert_der)


def test_private_keys_are_encrypted_at_rest(hub, departments):
    with hub.app.state.services.session_factory() as session:
        rows = session.scalars(select(HubKey)).all()
    assert {r.purpose for r in rows} == {"root", "token", "document", "issuer"}
    for row in rows:
        assert row.private_key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises((TypeError, ValueError)):
            serialization.load_pem_private_key(row.private_key_pem, password=None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ed25519_department_issues_licenses_that_verify(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request)
    code, name = DEMO_DEPARTMENTS["police"]
    response = hub.client.post("/departments", headers=hub.operator_headers(),
                               json={"code": code, "name": name, "region": "示例市", "alg": "EdDSA"})
    assert response.status_code == 201, response.text
    police = response.json()
    keys = {k["kid"]: k for k in hub.client.get("/.well-known/jwks.json").json()["keys"]}
    assert keys[police["issuer_kid"]]["alg"] == "EdDSA" and keys[police["issuer_kid"]]["crv"] == "Ed25519"
    issued = hub.client.post("/licenses", json=no_crime_request(), headers=bearer(hub, police))
    assert issued.status_code == 201, issued.text
    verified = hub.client.post("/verify", json={"qr": issued.json()["qr"]}).json()
    assert verified["status"] == "valid" and verified["issuer"]["kid"] == police["issuer_kid"]


# --- The root verifiers pin, the keys behind what clients keep --------------------------------------------

def _openssl_fingerprint(der: bytes) -> str:
    """What an operator reads with openssl: the format GET /trust-anchor promises."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256"],
                         input=der, capture_output=True, check=True).stdout.decode()
    return out.strip().split("=", 1)[1]


def test_trust_anchor_serves_the_root_certificate_and_its_openssl_fingerprint(hub):
    response = hub.client.get("/trust-anchor")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    anchor = response.json()
    certificate = x509.load_pem_x509_certificate(anchor["certificate_pem"].encode())
    assert certificate.public_bytes(serialization.Encoding.DER) == _root_der(hub)
    assert anchor["fingerprint_sha256"] == _openssl_fingerprint(_root_der(hub))
    assert anchor["subject"] == certificate.subject.rfc4514_string() and "Hub Root CA" in anchor["subject"]
    assert anchor["not_after"] == certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z")
    assert "public" in response.headers["cache-control"] and "max-age" in response.headers["cache-control"]
    assert "authorization" not in response.request.headers  # anonymous


def test_trust_anchor_pem_by_path_or_by_accept_and_revalidation_by_etag(hub):
    pem = hub.client.get("/trust-anchor").json()["certificate_pem"]
    by_path = hub.client.get("/trust-anchor.pem")
    assert by_path.status_code == 200 and by_path.headers["content-type"] == "application/x-pem-file"
    assert by_path.text == pem
    for accept, wanted in [("application/x-pem-file", "pem"), ("application/pem-certificate-chain", "pem"),
                           ("application/json;q=0.5, application/x-pem-file", "pem"),
                           ("application/x-pem-file;q=0.1, application/json", "json"), ("*/*", "json"),
                           ("application/x-pem-file;q=0, */*", "json")]:
        response = hub.client.get("/trust-anchor", headers={"Accept": accept})
        assert (response.text == pem) == (wanted == "pem"), accept
        assert response.headers["vary"] == "Accept"
    again = hub.client.get("/trust-anchor", headers={"If-None-Match": by_path.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_what_the_root_signs_verifies_against_the_pinned_anchor(hub, departments):
    pinned = x509.load_pem_x509_certificate(hub.client.get("/trust-anchor.pem").content)
    der = pinned.public_bytes(serialization.Encoding.DER)
    assert verify_trust_list(hub.client.get("/trust-list").text, der)["format"] == "hub-trust-list/1"
    issued = hub.client.post("/licenses", json=no_crime_request(), headers=bearer(hub, departments["police"]))
    assert issued.status_code == 201, issued.text
    for entry in issued.json()["links"]["status_lists"]:
        status_list = hub.client.get(entry["url"]).text
        assert jwt.decode(status_list, pinned.public_key(), algorithms=["ES256"], options={"verify_exp": False})
    head = hub.client.get("/audit/tree-head").json()
    assert jwt.PyJWS().decode(head["signature"], key=pinned.public_key(), algorithms=["ES256"])
    for key in hub.client.get("/.well-known/jwks.json").json()["keys"]:  # issuer and token certificates
        x509.load_der_x509_certificate(base64.b64decode(key["x5c"][0])).verify_directly_issued_by(pinned)


def test_jwks_carries_the_access_token_key_under_the_tokens_kid(hub):
    token = hub.operator_headers()["Authorization"].removeprefix("Bearer ")
    header = jwt.get_unverified_header(token)
    keys = {k["kid"]: k for k in hub.client.get("/.well-known/jwks.json").json()["keys"]}
    key = keys[header["kid"]]
    assert key["use"] == "sig" and key["alg"] == header["alg"] == "ES256" and "d" not in key
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], audience=hub.settings.public_url)
    assert claims["client_id"] == hub.operator["client_id"]


def test_authorization_server_metadata_describes_the_token_endpoint(hub):
    response = hub.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    issuer = hub.settings.public_url
    token = jwt.decode(hub.operator_headers()["Authorization"].removeprefix("Bearer "),
                       options={"verify_signature": False})
    assert meta["issuer"] == issuer == token["iss"]  # RFC 8414 §3.3: the issuer tokens name
    assert meta["token_endpoint"] == f"{issuer}/oauth/token" and meta["grant_types_supported"] == ["client_credentials"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post",
                                                                   "private_key_jwt"}
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert set(hub.operator["scopes"]) <= set(meta["scopes_supported"])
    assert set(token["scope"].split()) <= set(meta["scopes_supported"])
    path = meta["jwks_uri"].removeprefix(issuer)
    assert hub.client.get(path).json()["keys"]
    form = {"grant_type": "client_credentials"}
    answer = hub.client.post(meta["token_endpoint"].removeprefix(issuer), data=form,
                             auth=(hub.operator["client_id"], hub.operator["client_secret"]))
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"


def test_hub_init_prints_the_root_fingerprint_on_one_line(tmp_path):
    from typer.testing import CliRunner

    from hub.cli import app as hub_cli

    env = {"HUB_VAR_DIR": str(tmp_path / "var"), "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
           "HUB_KEY_PASSPHRASE": "test-passphrase"}
    first, again = (CliRunner().invoke(hub_cli, ["init"], env=env) for _ in range(2))
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    engine = sa.create_engine(env["HUB_DATABASE_URL"])
    with engine.connect() as conn:
        der = conn.scalar(sa.select(HubKey.certificate_der).where(HubKey.purpose == "root"))
    engine.dispose()
    for result in (first, again):  # printed when initialising and when already initialised
        assert f"  {_openssl_fingerprint(der)}\n" in result.output
