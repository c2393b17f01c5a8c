"""Key rotation and compromise with fixed clocks; SM2 departments end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hub.trust.certs import decrypt_key
from hub.trust.pades import validate_pdf
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr
from hub.trust.tables import HubKey
from license_verifier.algorithms import kid_for_certificate
from license_verifier.qr import decode_qr
from license_verifier.trustlist import load_trust_list, verify_trust_list
from license_verifier.verdict import Status
from license_verifier.verifier import verify
from tests.conftest import BACKENDS, DEMO_DEPARTMENTS, ROOT, bearer, start_hub
from tests.conftest import root_der as pinned_root
from tests.support.licenses import no_crime_request

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)


def _police(hub, alg: str = "ES256") -> dict:
    code, name = DEMO_DEPARTMENTS["police"]
    response = hub.client.post("/departments", headers=hub.operator_headers(),
                               json={"code": code, "name": name, "region": "示例市", "alg": alg})
    assert response.status_code == 201, response.text
    return response.json()


def _issue(hub, police: dict, **overrides) -> dict:
    response = hub.client.post("/licenses", json=no_crime_request(**overrides), headers=bearer(hub, police))
    assert response.status_code == 201, response.text
    return response.json()


def _hub_cli(hub, *args: str) -> subprocess.CompletedProcess:
    settings = hub.settings
    env = os.environ | {"HUB_DATABASE_URL": settings.resolved_database_url(), "HUB_VAR_DIR": str(settings.var_dir),
                        "HUB_KEY_PASSPHRASE": "test-passphrase", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "keys", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    hub.app.state.services.trust.invalidate()
    return done


def _keys(hub) -> list[HubKey]:
    with hub.app.state.services.session_factory() as session:
        return list(session.scalars(select(HubKey).where(HubKey.purpose == "issuer").order_by(HubKey.created_at)))


def _verify(hub, qr: str) -> dict:
    return hub.client.post("/verify", json={"qr": qr}).json()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotation_keeps_old_licenses_valid_and_lists_both_keys(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request, now=T0)
    police = _police(hub)
    old = _issue(hub, police)
    _hub_cli(hub, "rotate", police["code"])
    first, second = _keys(hub)
    assert (first.status, second.status) == ("retired", "active")
    new = _issue(hub, police)
    assert decode_qr(new["qr"]).kid == kid_for_certificate(second.certificate_der)
    assert _verify(hub, old["qr"])["status"] == "valid" and _verify(hub, new["qr"])["status"] == "valid"
    listed = {i["kid"]: i for i in verify_trust_list(hub.client.get("/trust-list").text, pinned_root(hub))["issuers"]}
    assert listed[first.kid]["status"] == "retired" and listed[second.kid]["status"] == "active"
    assert listed[first.kid]["not_after"] and listed[second.kid]["not_before"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_compromised_key_untrusts_what_it_signed_after_the_time(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request, now=T0)
    police = _police(hub)
    before = _issue(hub, police)  # issued at T0, valid from 2026-11-21
    compromised = _keys(hub)[0]
    with hub.app.state.services.session_factory() as session:
        key = decrypt_key(session.get(HubKey, compromised.id).private_key_pem, b"test-passphrase")
    attacker = KeySigner(key, kid=kid_for_certificate(compromised.certificate_der))
    forged_claims = replace(decode_qr(before["qr"]).claims, issuer_code=police["code"], serial=2026999999,
                            valid_from=date(2026, 11, 23), valid_until=date(2027, 2, 20), holder_name="冒名者")
    forged = encode_qr(forged_claims, attacker)
    hub.clock.now = T0 + timedelta(days=3)
    assert _verify(hub, forged)["status"] == "valid"  # a stolen key signs as well as the real one

    since = T0 + timedelta(days=1)
    _hub_cli(hub, "revoke", police["code"], compromised.kid, "--since", since.isoformat())
    answer = _verify(hub, forged)
    assert answer["status"] == "unknown_issuer" and answer["reason"] == "key_compromised"
    assert "泄露" in answer["message"] and "compromised" in answer["message_en"]
    assert _verify(hub, before["qr"])["status"] == "valid"  # issued before the compromise, on record

    assert [k.status for k in _keys(hub)] == ["compromised", "active"]  # a new key replaced it
    after = _issue(hub, police)
    assert _verify(hub, after["qr"])["status"] == "valid"

    # Offline: the trust list carries the compromise, and the rule goes by the validity dates.
    with hub.app.state.services.session_factory() as session:
        root_der = session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root"))
    jws = hub.client.get("/trust-list").text
    trust = load_trust_list(jws, root_der)
    listed = {entry["kid"]: entry for entry in verify_trust_list(jws, root_der)["issuers"]}
    # The member format docs/qr-format.md section 7 gives: RFC 3339 in UTC with Z.
    assert (listed[compromised.kid]["status"], listed[compromised.kid]["compromised_since"]) == (
        "compromised", "2026-11-22T02:00:00Z")
    assert verify(forged, trust, hub.clock()).reason == "key_compromised"
    assert verify(before["qr"], trust, hub.clock()).status is Status.VALID


@pytest.mark.parametrize("backend", BACKENDS)
def test_sm2_department_issues_licenses_that_verify(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request, now=T0)
    police = _police(hub, alg="SM2")
    keys = {k["kid"]: k for k in hub.client.get("/.well-known/jwks.json").json()["keys"]}
    assert keys[police["issuer_kid"]]["alg"] == "SM2"
    issued = _issue(hub, police)
    assert decode_qr(issued["qr"]).alg == "SM2"
    answer = _verify(hub, issued["qr"])
    assert answer["status"] == "valid" and answer["issuer"]["kid"] == police["issuer_kid"]
    tampered = issued["qr"][:-6] + ("A" if issued["qr"][-6] != "A" else "B") + issued["qr"][-5:]
    assert _verify(hub, tampered)["status"] in ("bad_signature", "malformed")
    # pyHanko has no SM2: the PDF is signed by the hub's document key (P-256), still trusted by the root.
    pdf = hub.client.get(f"/licenses/{issued['id']}/pdf", headers=bearer(hub, police))
    with hub.app.state.services.session_factory() as session:
        root_der = session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root"))
    status = validate_pdf(pdf.content, root_der=root_der)
    assert pdf.status_code == 200 and status.valid and status.trusted and "Hub document signing" in status.signer_subject
