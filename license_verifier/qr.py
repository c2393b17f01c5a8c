"""The hub's QR text: ``"HUB1:" + base45(COSE_Sign1)`` over a positional CBOR license array.

Specified in docs/qr-format.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import cbor2

from license_verifier.algorithms import COSE_ALGS
from license_verifier.base45 import b45decode
from license_verifier.cbor import read_cbor
from license_verifier.errors import QRFormatError
from license_verifier.frozen import build
from license_verifier.identifiers import format_license_identifier

PREFIX = "HUB1:"
MAX_TEXT_LENGTH = 4096
PAYLOAD_ELEMENTS = 8

_CODES = {length: re.compile(f"[0-9A-Z]{{{length}}}") for length in (18, 21)}  # issuer and type codes
COSE_SIGN1_TAG = 18  # RFC 9052 §2
HEADER_ALG, HEADER_KID = 1, 4  # RFC 9052 §3.1
_EPOCH = date(1970, 1, 1)  # RFC 8943 §2: day 0
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MAX_DAY = date.max.toordinal() - _EPOCH_ORDINAL
_MAX_UINT = 2**64 - 1
_MAX_U32 = 2**32 - 1
_SIG_STRUCTURE_START = cbor2.dumps(["Signature1", b"", b"", b""])[:12]  # array(4), "Signature1"
_COSE_NAMES = {cose_id: name for name, cose_id in COSE_ALGS.items()}
_BSTR_ARGUMENT_BYTES = {0x58: 1, 0x59: 2, 0x5A: 4, 0x5B: 8}  # RFC 8949 §3: additional information 24-27


def _is_code(value: Any, length: int) -> bool:
    return isinstance(value, str) and _CODES[length].fullmatch(value) is not None


def _is_uint(value: Any, maximum: int) -> bool:
    return type(value) is int and 0 <= value <= maximum


def _is_day(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime) and value >= _EPOCH


def _is_field_value(value: Any) -> bool:
    if type(value) is int:
        return -(2**64) <= value <= _MAX_UINT  # RFC 8949 §3.1: major types 0 and 1
    return value is None or type(value) in (str, bool) or _is_day(value) or (
        type(value) is float and math.isfinite(value))


def _is_status_ref(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and _is_uint(value[0], _MAX_U32) and _is_uint(
        value[1], _MAX_U32)


def _claims_problem(c: LicenseClaims) -> str | None:
    """Return the first rule of docs/qr-format.md section 4 that c breaks, or None."""
    if _is_day(c.valid_until) and _is_day(c.valid_from) and c.valid_until < c.valid_from:
        return "valid_until is before valid_from"
    if not _is_code(c.type_code, 21):
        return "type_code must be 21 characters 0-9A-Z"
    if not (c.issuer_code is None or _is_code(c.issuer_code, 18)):
        return "issuer_code must be 18 characters 0-9A-Z"
    if not _is_uint(c.serial, _MAX_UINT):
        return "serial must be an unsigned integer"
    if not _is_uint(c.version, 999):
        return "version must be an integer 0..999"
    if not _is_day(c.valid_from):
        return "valid_from must be a date from 1970-01-01"
    if not (c.valid_until is None or _is_day(c.valid_until)):
        return "valid_until must be a date or None"
    if not (isinstance(c.holder_id, str) and c.holder_id and isinstance(c.holder_name, str) and c.holder_name):
        return "holder id/name missing"
    if not all(map(_is_field_value, c.fields)):
        return "fields hold str/date/int/float/bool/None"
    if not (c.status_ref is None or _is_status_ref(c.status_ref)):
        return "status_ref is (list number, index)"
    return None


@dataclass(frozen=True)
class LicenseClaims:
    """The signed content of one license QR; ``fields`` are positional, in the type's order.

    The issuer is not repeated in the payload: the kid names the issuer's certificate, whose
    organizationIdentifier is the issuer code (the EU DCC Document Signer pattern). A decoded QR
    therefore has ``issuer_code`` None until the verifier has found the signing key.
    """

    type_code: str
    issuer_code: str | None
    serial: int
    version: int
    valid_from: date
    valid_until: date | None
    holder_id: str
    holder_name: str
    fields: tuple = ()
    status_ref: tuple[int, int] | None = None  # (status list number, index): W3C Bitstring Status List

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if (problem := _claims_problem(self)) is not None:
            raise ValueError(problem)

    @classmethod
    def _decoded(cls, **values: Any) -> LicenseClaims:
        """Return claims of every field, fields a tuple, checked as __init__ checks them.

        Built without the generated __init__ (``license_verifier.frozen``): decoding a QR builds one per call.
        """
        claims = build(cls, **values)
        if (problem := _claims_problem(claims)) is not None:
            raise ValueError(problem)
        return claims

    def with_issuer(self, issuer_code: str) -> LicenseClaims:
        """Return these claims with the issuer its signing key names; only the new code is checked."""
        if not _is_code(issuer_code, 18):
            raise ValueError("issuer_code must be 18 characters 0-9A-Z")
        return build(LicenseClaims, self.__dict__, issuer_code=issuer_code)

    @property
    def identifier(self) -> str:
        """Return the GB/T 36904 license identifier, check character included."""
        if self.issuer_code is None:
            raise ValueError("the issuer is known only once the signing key is found")
        return format_license_identifier(self.type_code, self.issuer_code, str(self.serial), self.version)


@dataclass(frozen=True)
class DecodedQR:
    """A structurally valid QR whose signature has not been checked yet."""

    alg: str | None  # "ES256", "EdDSA" or "SM2"; None when missing or not an algorithm the hub supports
    cose_alg: int | str | None  # the raw COSE alg header value
    kid: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    claims: LicenseClaims


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """Return the COSE_Sign1 ToBeSigned bytes (RFC 9052 §4.4, empty external_aad)."""
    return b"".join((_SIG_STRUCTURE_START, _bstr_head(len(protected)), protected, b"\x40",
                     _bstr_head(len(payload)), payload))


def _bstr_head(length: int) -> bytes:
    """Return the shortest CBOR head of a byte string of length (RFC 8949 §4.2.1), as cbor2.dumps writes it."""
    if length < 24:
        return bytes((0x40 | length,))
    size = 1 if length < 0x100 else 2 if length < 0x10000 else 4 if length < 0x100000000 else 8
    return bytes((0x58 + size.bit_length() - 1,)) + length.to_bytes(size, "big")


def day_number(day: date) -> int:
    """Return the RFC 8943 day number of day (days since 1970-01-01)."""
    return (day - _EPOCH).days


def date_from_day_number(number: Any) -> date:
    """Return the date of an RFC 8943 day number; raise QRFormatError when out of range."""
    if not _is_uint(number, _MAX_DAY):
        raise QRFormatError("bad_date", f"not a day number: {number!r}")
    return date.fromordinal(_EPOCH_ORDINAL + number)


def _unwrap_text(text: Any) -> bytes:
    if not isinstance(text, str):
        raise QRFormatError("not_text", "the QR content must be a string")
    if len(text) > MAX_TEXT_LENGTH:
        raise QRFormatError("too_long", f"longer than {MAX_TEXT_LENGTH} characters")
    if not text.startswith(PREFIX):
        raise QRFormatError("bad_prefix", f"does not start with {PREFIX!r}")
    try:
        return b45decode(text[len(PREFIX):])
    except ValueError:
        raise QRFormatError("bad_base45", "not base45 (RFC 9285)") from None


def _bstr_at(data: bytes, pos: int) -> tuple[bytes, int]:
    """Return the byte string whose head is at pos and the position after it; raise LookupError otherwise."""
    head = data[pos]
    if 0x40 <= head < 0x58:
        pos, length = pos + 1, head - 0x40
    else:
        size = _BSTR_ARGUMENT_BYTES[head]
        pos, length = pos + 1 + size, int.from_bytes(data[pos + 1:pos + 1 + size], "big")
    end = pos + length
    if end > len(data):
        raise IndexError("truncated byte string")
    return data[pos:end], end


def _cose_layout(data: bytes) -> list | None:
    """Return the parts of ``18([bstr, {}, bstr, bstr])``, the layout the hub writes, or None for any other."""
    if data[:2] != b"\xd2\x84":
        return None
    try:
        protected, pos = _bstr_at(data, 2)
        if data[pos] != 0xA0:
            return None
        payload, pos = _bstr_at(data, pos + 1)
        signature, pos = _bstr_at(data, pos)
    except LookupError:
        return None
    return [protected, {}, payload, signature] if pos == len(data) else None


def _cose_sign1(data: bytes) -> list:
    if (parts := _cose_layout(data)) is not None:  # what the strict reader returns for this layout
        return parts
    item = read_cbor(data, COSE_SIGN1_TAG)
    if not isinstance(item, cbor2.CBORTag):
        raise QRFormatError("bad_cose", "not a tagged COSE_Sign1 (tag 18)")
    parts = item.value
    if not isinstance(parts, list) or [type(p) for p in parts] != [bytes, dict, bytes, bytes]:
        raise QRFormatError("bad_cose", "COSE_Sign1 must be [bstr, map, bstr, bstr]")
    return parts


def protected_header(cose_alg: int, kid: bytes) -> bytes:
    """Return the protected header the hub writes: ``{1: alg, 4: kid}`` in deterministic CBOR (RFC 8949 §4.2.1)."""
    return cbor2.dumps({HEADER_ALG: cose_alg, HEADER_KID: bytes(kid)}, canonical=True)


def _protected_header(protected: bytes) -> tuple[int | str | None, bytes]:
    # RFC 9052 §3: the protected bucket is a bstr wrapping a map; zero length means an empty map.
    header = read_cbor(protected) if protected else {}
    if not isinstance(header, dict):
        raise QRFormatError("bad_header", "protected header is not a map")
    cose_alg = header.get(HEADER_ALG)
    if HEADER_ALG in header and type(cose_alg) not in (int, str):  # RFC 9052 §3.1: int / tstr
        raise QRFormatError("bad_header", "alg must be an integer or a text string")
    kid = header.get(HEADER_KID)
    if type(kid) is not bytes:
        raise QRFormatError("bad_header", "kid must be present as a byte string")
    return cose_alg, kid


def _claims(payload: bytes, read: Callable[[bytes], Any]) -> LicenseClaims:
    items = read(payload)
    if not isinstance(items, list) or len(items) < PAYLOAD_ELEMENTS:
        raise QRFormatError("bad_payload", f"payload must be an array of {PAYLOAD_ELEMENTS}+ items")
    type_code, serial, version, start, end, holder_id, holder_name, fields = items[:PAYLOAD_ELEMENTS]
    if not isinstance(fields, list):
        raise QRFormatError("bad_payload", "fields must be an array")
    until = None if end is None else date_from_day_number(end)
    status_ref = items[PAYLOAD_ELEMENTS] if len(items) > PAYLOAD_ELEMENTS else None
    if status_ref is not None and not _is_status_ref(status_ref):
        raise QRFormatError("bad_payload", "element 8 must be [status list number, index]")
    try:
        return LicenseClaims._decoded(
            type_code=type_code, issuer_code=None, serial=serial, version=version, valid_from=date_from_day_number(start),
            valid_until=until, holder_id=holder_id, holder_name=holder_name, fields=tuple(fields),
            status_ref=tuple(status_ref) if status_ref else None)
    except ValueError as error:
        raise QRFormatError("bad_payload", str(error)) from None


def decode_qr(text: str, read: Callable[[bytes], Any] = read_cbor,
              headers: Mapping[bytes, tuple[int, bytes]] | None = None) -> DecodedQR:
    """Parse QR text without checking its signature; raise QRFormatError if it is malformed.

    read decodes the payload as ``read_cbor`` does; headers maps protected headers known to be well formed
    (``protected_header(alg, kid)``) to their (alg, kid), which then need no decoding.
    """
    envelope = decode_envelope(text, headers)
    return with_claims(envelope, read_claims(envelope.payload, read))


def decode_envelope(text: str, headers: Mapping[bytes, tuple[int, bytes]] | None = None) -> DecodedQR:
    """Parse QR text up to its payload's bytes, which stay undecoded (``claims`` is None): what a signature
    check needs. Raise QRFormatError if the text or its COSE envelope is malformed."""
    protected, _unprotected, payload, signature = _cose_sign1(_unwrap_text(text))
    known = headers.get(protected) if headers else None
    cose_alg, kid = known or _protected_header(protected)
    alg = _COSE_NAMES.get(cose_alg) if type(cose_alg) is int else None
    return build(DecodedQR, alg=alg, cose_alg=cose_alg, kid=kid, protected=protected, payload=payload,
                 signature=signature, claims=None)


def read_claims(payload: bytes, read: Callable[[bytes], Any] = read_cbor) -> LicenseClaims:
    """Decode a payload's claims with read (as ``read_cbor`` does); raise QRFormatError if malformed."""
    return _claims(payload, read)


def with_claims(envelope: DecodedQR, claims: LicenseClaims) -> DecodedQR:
    return build(DecodedQR, envelope.__dict__, claims=claims)  # the envelope with its decoded claims
