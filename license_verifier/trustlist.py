"""The hub's trust list: the issuer keys and license types an offline verifier accepts.

The document is JSON (format ``hub-trust-list/1``, see docs/qr-format.md), published as a compact
JWS (RFC 7515 §7.1) signed ES256 by the hub root CA, whose certificate verifiers pin.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from license_verifier.algorithms import COSE_ALGS, algorithm_for_key, certificate_public_key, kid_for_certificate

FORMAT = "hub-trust-list/1"
JWS_TYPE = "hub-trust-list+jws"
JWS_ALG = "ES256"
HOLDER_KINDS = frozenset({"credit_code", "resident_id"})
FIELD_TYPES = frozenset({"string", "date", "integer", "number", "boolean"})


class TrustListError(Exception):
    """The trust list is unsigned, badly signed or not a valid document; see ``code``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class TrustedIssuer:
    """One department key the hub vouches for."""

    kid: bytes
    alg: str
    # The kid is a hash of the certificate, so it already decides equality; tongsuopy SM2 keys
    # compare by identity only.
    public_key: Any = field(compare=False)
    code: str
    name: str
    not_before: datetime
    not_after: datetime
    license_types: frozenset[str]
    compromised_since: datetime | None = None  # what this key signed from then on is untrusted


@dataclass(frozen=True)
class QRFieldDef:
    """One license-type field carried in the QR, in declaration order."""

    name: str
    type: str
    label: str


@dataclass(frozen=True)
class LicenseTypeInfo:
    """What a verifier needs to know about one license type."""

    code: str
    name: str
    name_en: str
    holder: str
    qr_fields: tuple[QRFieldDef, ...]


@dataclass(frozen=True)
class TrustList:
    """Trusted issuers by kid and license types by code."""

    issuers: Mapping[bytes, TrustedIssuer]
    types: Mapping[str, LicenseTypeInfo]
    issued_at: datetime | None = field(default=None, compare=False)

    @classmethod
    def from_document(cls, doc: Any) -> TrustList:
        """Build a trust list from its JSON document; raise TrustListError if it is invalid."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise TrustListError("bad_document", f"format must be {FORMAT!r}")
        # An issuer whose algorithm this verifier does not know (a later one) is left out, not fatal.
        issuers = [_issuer(e) for e in _list(doc, "issuers") if _get(e, "alg", str) in COSE_ALGS]
        types = [_license_type(entry) for entry in _list(doc, "license_types")]
        by_kid = {issuer.kid: issuer for issuer in issuers}
        by_code = {info.code: info for info in types}
        if len(by_kid) != len(issuers) or len(by_code) != len(types):
            raise TrustListError("bad_document", "duplicate kid or license type code")
        return cls(MappingProxyType(by_kid), MappingProxyType(by_code), _time(doc, "issued_at"))


def b64url(data: bytes) -> str:
    """Encode base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _get(entry: Any, key: str, kind: type) -> Any:
    value = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(value, kind):
        raise TrustListError("bad_document", f"{key} must be a {kind.__name__}")
    return value


def _list(entry: Any, key: str) -> list:
    return _get(entry, key, list)


def _strings(values: Iterable[Any], key: str) -> frozenset[str]:
    if not all(isinstance(value, str) for value in values):
        raise TrustListError("bad_document", f"{key} must hold strings")
    return frozenset(values)


def _time(entry: Any, key: str) -> datetime:
    try:
        value = datetime.fromisoformat(_get(entry, key, str))  # RFC 3339 §5.6 date-time
    except ValueError:
        raise TrustListError("bad_document", f"{key} is not an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise TrustListError("bad_document", f"{key} needs a UTC offset")
    return value


def _certificate(entry: Any) -> tuple[bytes, Any]:
    """Return the certificate's DER and public key (SM2 keys as tongsuopy objects)."""
    try:
        der = base64.b64decode(_get(entry, "certificate", str), validate=True)
        return der, certificate_public_key(der)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise TrustListError("bad_document", "certificate is not base64 DER") from None


def _code(department: Any) -> str:
    code = _get(department, "code", str)
    if len(code) != 18 or not all(c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" for c in code):
        raise TrustListError("bad_document", "department.code must be 18 characters 0-9A-Z")
    return code


def _issuer(entry: Any) -> TrustedIssuer:
    der, public_key = _certificate(entry)
    kid = kid_for_certificate(der)
    if _get(entry, "kid", str) != b64url(kid):  # kid is bound to the certificate (EU DCC rule)
        raise TrustListError("bad_document", "kid does not match the certificate")
    alg = _get(entry, "alg", str)
    if algorithm_for_key(public_key) != alg:
        raise TrustListError("bad_document", f"alg {alg!r} does not match the certificate key")
    department = _get(entry, "department", dict)
    return TrustedIssuer(
        kid=kid, alg=alg, public_key=public_key,
        code=_code(department), name=_get(department, "name", str),
        not_before=_time(entry, "not_before"), not_after=_time(entry, "not_after"),
        license_types=_strings(_list(entry, "license_types"), "license_types"),
        compromised_since=_time(entry, "compromised_since") if entry.get("compromised_since") else None,
    )


def _field_def(entry: Any) -> QRFieldDef:
    field_type = _get(entry, "type", str)
    if field_type not in FIELD_TYPES:
        raise TrustListError("bad_document", f"unknown field type {field_type!r}")
    return QRFieldDef(_get(entry, "name", str), field_type, _get(entry, "label", str))


def _license_type(entry: Any) -> LicenseTypeInfo:
    holder = _get(entry, "holder", str)
    if holder not in HOLDER_KINDS:
        raise TrustListError("bad_document", f"unknown holder kind {holder!r}")
    fields = tuple(_field_def(item) for item in _list(entry, "qr_fields"))
    return LicenseTypeInfo(
        code=_get(entry, "code", str), name=_get(entry, "name", str),
        name_en=_get(entry, "name_en", str), holder=holder, qr_fields=fields,
    )


def verify_root_jws(jws: str, root_cert_der: bytes, *, typ: str, error: type[Exception] | None = None) -> dict:
    """Check a root-signed JWS against the pinned root certificate and return its JSON object."""
    error = error or TrustListError
    try:
        root_key = x509.load_der_x509_certificate(root_cert_der).public_key()
    except ValueError:
        raise error("bad_root", "the pinned root certificate is not DER") from None
    try:
        signed = jwt.PyJWS().decode_complete(jws, key=root_key, algorithms=[JWS_ALG])
    except jwt.PyJWTError as failure:
        raise error("bad_signature", str(failure)) from None
    if signed["header"].get("typ") != typ:
        raise error("bad_type", f"typ must be {typ!r}")
    try:
        doc = json.loads(signed["payload"])
    except ValueError:
        raise error("bad_document", "payload is not JSON") from None
    if not isinstance(doc, dict):
        raise error("bad_document", "payload is not a JSON object")
    return doc


def verify_trust_list(jws: str, root_cert_der: bytes) -> dict:
    """Check the trust list JWS against the pinned root certificate and return the document."""
    return verify_root_jws(jws, root_cert_der, typ=JWS_TYPE)


def load_trust_list(jws: str, root_cert_der: bytes) -> TrustList:
    """Verify a signed trust list and build it."""
    return TrustList.from_document(verify_trust_list(jws, root_cert_der))
