"""Offline verification of a hub QR text against a trust list.

Pure: no clock, network or database. The order of checks and the statuses are specified in
docs/qr-format.md ("Verification"); the hub's online check adds revoked and suspended on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from license_verifier.algorithms import COSE_ALGS, signature_check
from license_verifier.cbor import read_cbor
from license_verifier.cbor_fast import CanonicalCBOR
from license_verifier.identifiers import IdentifierPrefix
from license_verifier.qr import (
    DecodedQR,
    LicenseClaims,
    QRFormatError,
    date_from_day_number,
    decode_envelope,
    protected_header,
    read_claims,
    sig_structure,
    with_claims,
)
from license_verifier.statuslist import StatusListView, list_id
from license_verifier.trustlist import LicenseTypeInfo, QRFieldDef, TrustedIssuer, TrustList, b64url
from license_verifier.verdict import Result, Status, StatusListFreshness

# Validity is by calendar date in China Standard Time, which has no daylight saving.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_FIELD_PYTHON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}


class Verifier:
    """Checks QR texts against one trust list, keeping what it prepares per issuer key between calls.

    What it keeps is bounded by the trust list and goes with this object (a new trust list gets a new
    Verifier): per issuer key, made on first use, the key matched to its algorithm, its description and
    the identifier prefix of each license type it may issue; the protected headers the hub writes for
    the trusted keys, which then need no decoding; and one CBOR encoder per thread (``CanonicalCBOR``).
    """

    def __init__(self, trust: TrustList) -> None:
        self.trust = trust
        self._keys: dict[bytes, _IssuerKey] = {}
        self._headers: dict[bytes, tuple[int, bytes]] | None = None
        self._cbor = CanonicalCBOR()

    def verify(self, qr_text: str, now: datetime, status_lists: Mapping[str, StatusListView] | None = None, *,
               offline_compromise_rule: bool = True) -> Result:
        """Check a QR text at now, and against status lists when given; never raise.

        A QR signed with a key marked compromised is untrusted when its validity starts on or after the
        compromise day (China Standard Time): offline, that is the only date there is. The hub's online
        check turns the rule off and asks its own records when the license was really issued.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")  # a caller bug, not a property of the QR
        try:
            envelope = decode_envelope(qr_text, self._known_headers())
            key = self._authenticate(envelope)
            # A payload a trusted key signed goes to the C decoder; any other only to the strict reader, so that
            # bytes nobody vouches for never reach cbor2, which acts on the tags it knows as it reads them.
            read = read_cbor if isinstance(key, Result) else self._cbor.read
            decoded = with_claims(envelope, read_claims(envelope.payload, read))
        except QRFormatError as error:  # malformed before any other verdict, as the QR format says
            return Result.of(Status.MALFORMED, reason=error.code)
        if isinstance(key, Result):
            return key
        if decoded.claims.type_code not in key.issuer.license_types:
            return Result.of(Status.UNKNOWN_ISSUER, reason="type_not_allowed")
        issuer = key.issuer
        claims = decoded.claims.with_issuer(issuer.code)
        if offline_compromise_rule and signed_after_compromise(claims, issuer):
            return Result.of(Status.UNKNOWN_ISSUER, issuer=dict(key.view), reason="key_compromised")
        try:
            identifier = key.prefix(claims.type_code).identifier(str(claims.serial), claims.version)
            license = license_view(claims, self.trust.types.get(claims.type_code), identifier)
        except QRFormatError as error:
            return Result.of(Status.MALFORMED, reason=error.code)
        revoked, freshness = _list_status(claims, issuer.code, status_lists, now)
        status = revoked or validity_status(claims, now)
        return Result.of(status, license=license, issuer=dict(key.view), status_list=freshness)

    def _authenticate(self, decoded: DecodedQR) -> _IssuerKey | Result:
        """Return the issuer key that signed decoded's payload bytes, or the failing Result."""
        if decoded.alg is None:  # missing, "none" or an algorithm the hub does not accept
            return Result.of(Status.BAD_SIGNATURE, reason="unsupported_alg")
        key = self._issuer_key(decoded.kid)
        if key is None:
            return Result.of(Status.UNKNOWN_ISSUER, reason="unknown_kid")
        if decoded.alg != key.issuer.alg:  # never let the QR choose how its key is used
            return Result.of(Status.BAD_SIGNATURE, reason="alg_mismatch")
        if not key.check(decoded.signature, sig_structure(decoded.protected, decoded.payload)):
            return Result.of(Status.BAD_SIGNATURE, reason="signature_mismatch")
        return key

    def _known_headers(self) -> dict[bytes, tuple[int, bytes]]:
        """Return the protected header the hub writes for each trusted key, mapped to its (alg, kid)."""
        if self._headers is None:
            self._headers = {protected_header(cose_alg, kid): (cose_alg, kid) for kid, issuer in self.trust.issuers.items()
                             if (cose_alg := COSE_ALGS.get(issuer.alg)) is not None}
        return self._headers

    def _issuer_key(self, kid: bytes) -> _IssuerKey | None:
        key = self._keys.get(kid)
        if key is None and (issuer := self.trust.issuers.get(kid)) is not None:
            key = self._keys[kid] = _IssuerKey(issuer, signature_check(issuer.public_key, issuer.alg),
                                               issuer_view(issuer))
        return key


@dataclass(frozen=True)
class _IssuerKey:
    """A trusted issuer with its key matched to its algorithm once, its description in answers, and the
    identifier prefix of each license type it issues (made on first use; the trust list bounds them)."""

    issuer: TrustedIssuer
    check: Callable[[bytes, bytes], bool]
    view: dict
    prefixes: dict[str, IdentifierPrefix] = field(default_factory=dict)

    def prefix(self, type_code: str) -> IdentifierPrefix:
        """Return the identifier prefix of type_code, one of the issuer's license types."""
        prefix = self.prefixes.get(type_code)
        if prefix is None:
            prefix = self.prefixes[type_code] = IdentifierPrefix(type_code, self.issuer.code)
        return prefix


def verify(qr_text: str, trust: TrustList, now: datetime,
           status_lists: Mapping[str, StatusListView] | None = None, *, offline_compromise_rule: bool = True) -> Result:
    """Check a QR text against trust at now (see Verifier.verify); to check many, keep one Verifier."""
    return Verifier(trust).verify(qr_text, now, status_lists, offline_compromise_rule=offline_compromise_rule)


def _list_status(claims: LicenseClaims, issuer_code: str, lists: Mapping[str, StatusListView] | None,
                 now: datetime) -> tuple[Status | None, StatusListFreshness | None]:
    """Return revoked or suspended when a status list says so, and how current the lists consulted were."""
    if lists is None or claims.status_ref is None:
        return None, None
    list_no, index = claims.status_ref
    found = [(lists.get(list_id(issuer_code, list_no, purpose)), status)
             for purpose, status in (("revocation", Status.REVOKED), ("suspension", Status.SUSPENDED))]
    views = [view for view, _ in found if view is not None]
    verdict = next((status for view, status in found if view is not None and view.is_set(index)), None)
    return verdict, (list_freshness(views, now) if views else None)


def list_freshness(views: Sequence[StatusListView], now: datetime) -> StatusListFreshness:
    """Describe the lists consulted: the oldest copy's fetch time and age, the latest change."""
    fetched = [view.fetched_at for view in views]
    oldest = None if None in fetched else min(fetched)
    age = None if oldest is None else max(0, int((now - oldest).total_seconds()))
    return StatusListFreshness(fetched_at=oldest, updated_at=max(view.valid_from for view in views), age_seconds=age)


def signed_after_compromise(claims: LicenseClaims, issuer: TrustedIssuer) -> bool:
    """Tell whether a license's validity starts on or after its key's compromise day."""
    since = issuer.compromised_since
    return since is not None and claims.valid_from >= since.astimezone(CHINA_STANDARD_TIME).date()


def validity_status(claims: LicenseClaims, now: datetime) -> Status:
    """Return valid, not_yet_valid or expired for claims on now's date in China Standard Time."""
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    if today < claims.valid_from:
        return Status.NOT_YET_VALID
    if claims.valid_until is not None and today > claims.valid_until:
        return Status.EXPIRED
    return Status.VALID


def typed_field_value(value: Any, field_type: str) -> Any:
    """Return a decoded QR field value as its declared type; raise QRFormatError on a mismatch."""
    if value is None:
        return None
    if field_type == "date":
        return date_from_day_number(value)
    if type(value) not in _FIELD_PYTHON_TYPES.get(field_type, ()):
        raise QRFormatError("bad_field", f"{value!r} is not a {field_type}")
    return value


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _named_fields(values: Sequence[Any], defs: Sequence[QRFieldDef]) -> dict[str, Any]:
    # Values beyond the declared fields (an older trust list) keep their position as a name;
    # declared fields beyond the values (an older QR) have no value.
    named = {d.name: _json_value(typed_field_value(v, d.type)) for d, v in zip(defs, values)}
    if len(defs) > len(values):
        named.update((d.name, None) for d in defs[len(values):])
    elif len(values) > len(defs):
        named.update((f"f{i}", v) for i, v in enumerate(values[len(defs):], start=len(defs)))
    return named


def license_view(claims: LicenseClaims, info: LicenseTypeInfo | None, identifier: str | None = None) -> dict:
    """Return the JSON-friendly description of a license that a result carries (identifier: claims.identifier)."""
    return {
        "id": claims.identifier if identifier is None else identifier,
        "type": claims.type_code,
        "type_name": info.name if info else None,
        "type_name_en": info.name_en if info else None,
        "holder": {
            "id_type": info.holder if info else None,
            "id": claims.holder_id,
            "name": claims.holder_name,
        },
        "fields": _named_fields(claims.fields, info.qr_fields if info else ()),
        "valid_from": claims.valid_from.isoformat(),
        "valid_until": claims.valid_until.isoformat() if claims.valid_until else None,
        "version": claims.version,
    }


def issuer_view(issuer: TrustedIssuer) -> dict:
    """Return the JSON-friendly description of an issuer that a result carries."""
    return {"code": issuer.code, "name": issuer.name, "kid": b64url(issuer.kid)}
