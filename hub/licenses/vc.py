"""W3C Verifiable Credential 2.0 export of a license, secured as vc+jwt (VC-JOSE-COSE §3.1.1).

The JWS is signed with the issuing department's key through the same signer as the QR code:
ES256 (r||s) and EdDSA signatures are already in JWS form (RFC 7518 §3.4, RFC 8037 §3.1); an SM2
department's VC carries the non-registered alg "SM2" (see docs/qr-format.md).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from hub.licenses.tables import License
from hub.licenses.types import LicenseType
from hub.trust.signer import Signer
from license_verifier.statuslist import list_id
from license_verifier.trustlist import b64url
from license_verifier.verifier import CHINA_STANDARD_TIME

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def _start_of(day: date) -> str:
    return datetime.combine(day, time(0), CHINA_STANDARD_TIME).isoformat()


def _status_entries(row: License, base_url: str) -> list[dict]:
    if row.status_list_no is None:
        return []
    entries = []
    for purpose in ("revocation", "suspension"):
        url = f"{base_url}/status-lists/{list_id(row.issuer_code, row.status_list_no, purpose)}"
        entries.append({"id": f"{url}#{row.status_index}", "type": "BitstringStatusListEntry",
                        "statusPurpose": purpose, "statusListIndex": str(row.status_index),
                        "statusListCredential": url})
    return entries


def license_credential(row: License, *, license_type: LicenseType, issuer_name: str, base_url: str) -> dict:
    """Return the license as a VC 2.0 credential (W3C VC Data Model 2.0 §4)."""
    labels = {f.name: f.label for f in license_type.fields}
    credential = {
        "@context": [VC_CONTEXT],
        "id": f"urn:gbt36904:{row.identifier}",
        "type": ["VerifiableCredential", "ElectronicLicense"],
        "name": f"{license_type.name} {license_type.name_en}",
        "issuer": {"id": f"{base_url}/issuers/{row.issuer_code}", "name": issuer_name},
        "validFrom": _start_of(row.valid_from),
        "credentialSubject": {
            "type": "LicenseHolder", "idType": row.holder_id_type, "identifier": row.holder_id,
            "name": row.holder_name,
            "license": {"type": license_type.code, "version": row.version, "data": row.data, "labels": labels},
        },
    }
    if row.valid_until is not None:
        credential["validUntil"] = _start_of(row.valid_until + timedelta(days=1))
    if entries := _status_entries(row, base_url):
        credential["credentialStatus"] = entries
    return credential


def sign_vc_jwt(credential: dict, signer: Signer) -> str:
    """Secure a credential as a compact JWS with typ vc+jwt and cty vc."""
    header = {"alg": signer.alg, "typ": "vc+jwt", "cty": "vc", "kid": b64url(signer.kid)}
    payload = json.dumps(credential, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(payload)}"
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode('ascii')))}"
