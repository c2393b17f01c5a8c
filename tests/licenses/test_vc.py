"""W3C VC 2.0 export: schema-valid, signed (checked with joserfc, not the signing code), status-linked."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from jsonschema import Draft202012Validator

from license_verifier.qr import decode_qr
from tests.conftest import bearer
from tests.support.licenses import business_license_request

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "vc-2.0-credential.schema.json").read_text())


@pytest.fixture(scope="module")
def issued(hub, departments) -> tuple[dict, dict]:
    headers = bearer(hub, departments["market"])
    response = hub.client.post("/licenses", json=business_license_request(), headers=headers)
    assert response.status_code == 201, response.text
    return response.json(), headers


def _vc(hub, issued) -> tuple[dict, dict]:
    body, headers = issued
    response = hub.client.get(f"/licenses/{body['id']}/vc", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vc+jwt")
    keys = KeySet.import_key_set(hub.client.get("/.well-known/jwks.json").json())
    token = jws.deserialize_compact(response.text, keys, algorithms=["ES256", "EdDSA"])
    return token.headers(), json.loads(token.payload)


def test_vc_is_schema_valid_and_verifies_with_an_independent_jose_library(hub, issued):
    header, credential = _vc(hub, issued)
    assert header["typ"] == "vc+jwt" and header["cty"] == "vc"
    Draft202012Validator.check_schema(SCHEMA)
    errors = sorted(str(e.message) for e in Draft202012Validator(SCHEMA).iter_errors(credential))
    assert errors == []
    assert credential["id"] == f"urn:gbt36904:{issued[0]['id']}"
    assert credential["credentialSubject"]["name"] == issued[0]["holder"]["name"]
    assert credential["validFrom"] == "2026-11-21T00:00:00+08:00" and "validUntil" not in credential


def test_vc_status_entries_point_at_the_license_status_list_bits(hub, issued, departments):
    _, credential = _vc(hub, issued)
    list_no, index = decode_qr(issued[0]["qr"]).claims.status_ref
    code = departments["market"]["code"]
    entries = {e["statusPurpose"]: e for e in credential["credentialStatus"]}
    assert set(entries) == {"revocation", "suspension"}
    for purpose, entry in entries.items():
        assert entry["type"] == "BitstringStatusListEntry" and entry["statusListIndex"] == str(index)
        assert entry["statusListCredential"].endswith(f"/status-lists/{code}-{list_no}-{purpose}")
        path = entry["statusListCredential"].removeprefix(hub.settings.public_url)
        assert hub.client.get(path).status_code == 200


def test_tampered_vc_fails_verification(hub, issued):
    body, headers = issued
    token = hub.client.get(f"/licenses/{body['id']}/vc", headers=headers).text
    head, payload, signature = token.split(".")
    keys = KeySet.import_key_set(hub.client.get("/.well-known/jwks.json").json())
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["name"] = "冒名者"
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(f"{head}.{altered}.{signature}", keys, algorithms=["ES256"])


def test_vc_follows_the_license_access_rules(hub, issued, departments):
    body, _ = issued
    assert hub.client.get(f"/licenses/{body['id']}/vc").status_code == 401
    assert hub.client.get(f"/licenses/{body['id']}/vc", headers=bearer(hub, departments["civil"])).status_code == 404
