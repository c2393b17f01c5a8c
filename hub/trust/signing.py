"""Everything the hub signs in the formats ``license_verifier`` checks: QR texts, the trust list, status lists.

The verifier package only reads these formats; producing them (and holding the keys that do) is the
hub's side, so it lives here. Specified in docs/qr-format.md and docs/trust.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import date
from typing import Any

import base45
import cbor2
import jwt
from cryptography import x509

from hub.trust.signer import Signer
from license_verifier import statuslist, trustlist
from license_verifier.algorithms import COSE_ALGS, algorithm_for_key, certificate_public_key, kid_for_certificate
from license_verifier.qr import COSE_SIGN1_TAG, PREFIX, LicenseClaims, day_number, protected_header, sig_structure
from license_verifier.trustlist import JWS_ALG, b64url


def encode_qr(claims: LicenseClaims, signer: Signer) -> str:
    """Sign claims with signer and return the QR text."""
    cose_alg = COSE_ALGS.get(signer.alg)
    if cose_alg is None:
        raise ValueError(f"unsupported algorithm {signer.alg!r}")
    # RFC 8949 §4.2.1 deterministic encoding, so one license always yields the same bytes.
    protected = protected_header(cose_alg, signer.kid)
    until = None if claims.valid_until is None else day_number(claims.valid_until)
    fields = [day_number(v) if isinstance(v, date) else v for v in claims.fields]
    if claims.issuer_code is None:
        raise ValueError("claims to sign need their issuer_code")
    payload = cbor2.dumps([claims.type_code, claims.serial, claims.version,
                           day_number(claims.valid_from), until, claims.holder_id, claims.holder_name,
                           fields, *([list(claims.status_ref)] if claims.status_ref else [])], canonical=True)
    signature = signer.sign(sig_structure(protected, payload))
    # RFC 9052 §4.2: COSE_Sign1 = [protected, unprotected, payload, signature], tag 18.
    message = cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature])
    return PREFIX + base45.b45encode(cbor2.dumps(message)).decode("ascii")


def issuer_entry(cert_der: bytes, *, code: str, name: str, license_types: Iterable[str]) -> dict:
    """Return the trust-list entry for an issuer certificate."""
    cert = x509.load_der_x509_certificate(cert_der)
    alg = algorithm_for_key(certificate_public_key(cert_der))
    if alg is None:
        raise ValueError("the certificate key is not ECDSA P-256, Ed25519 or SM2")
    return {
        "kid": b64url(kid_for_certificate(cert_der)),
        "department": {"code": code, "name": name},
        "alg": alg,
        "certificate": base64.b64encode(cert_der).decode("ascii"),
        "not_before": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        "license_types": list(license_types),
    }


def sign_root_jws(doc: dict, root_key: Any, root_cert_der: bytes, *, typ: str, cty: str | None = None) -> str:
    """Return doc as a compact JWS (UTF-8 JSON) signed by the hub root key, its certificate in x5c."""
    payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"typ": typ, "x5c": [base64.b64encode(root_cert_der).decode("ascii")]} | ({"cty": cty} if cty else {})
    return jwt.PyJWS().encode(payload, root_key, algorithm=JWS_ALG, headers=headers)


def sign_trust_list(doc: dict, root_key: Any, root_cert_der: bytes) -> str:
    """Return the trust list as a compact JWS signed by the hub root key."""
    return sign_root_jws(doc, root_key, root_cert_der, typ=trustlist.JWS_TYPE)


def sign_status_list(document: dict, root_key: Any, root_cert_der: bytes) -> str:
    """Secure a status list credential as vc+jwt with the hub root key."""
    return sign_root_jws(document, root_key, root_cert_der, typ=statuslist.JWS_TYPE, cty="vc")
