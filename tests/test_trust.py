"""Trust material: root CA, issuer certificates, JWKS, the signed trust list, keys encrypted at rest."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from hub.trust.tables import HubKey
from hub.verify.trustlist import TrustList, TrustListError, verify_trust_list
from tests.conftest import BACKENDS, DEMO_DEPARTMENTS, bearer, start_hub
from tests.licenses import no_crime_request


def _root_der(hub) -> bytes:
    with hub.app.state.session_factory() as session:
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


def test_trust_list_is_signed_by_the_root_and_lists_every_issuer(hub, departments):
    response = hub.client.get("/trust-list")
    assert response.status_code == 200 and "max-age" in response.headers["cache-control"]
    signed = response.json()
    document = verify_trust_list(signed["jws"], _root_der(hub))
    assert document == signed["payload"]
    codes = {i["department"]["code"] for i in document["issuers"]}
    assert {d["code"] for d in departments.values()} <= codes
    market = next(i for i in document["issuers"] if i["department"]["code"] == departments["market"]["code"])
    assert market["license_types"] == ["11100000000013338W001"]
    assert TrustList.from_document(document).issuers


def test_trust_list_signed_by_another_root_is_refused(hub, departments):
    from hub.trust.certs import make_root

    other = make_root(hub.clock())
    with pytest.raises(TrustListError):
        verify_trust_list(hub.client.get("/trust-list").json()["jws"], other.cert_der)


def test_private_keys_are_encrypted_at_rest(hub, departments):
    with hub.app.state.session_factory() as session:
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
