"""W3C Bitstring Status List v1.0: encode, decode and check the hub's revocation and suspension lists.

Pure (no web framework, no database) so an offline verifier can check a cached list. Each list is a
BitstringStatusListCredential (W3C VC 2.0) secured as `vc+jwt` (VC-JOSE-COSE §3.1.1), signed by
the hub with its root key, its certificate in `x5c`, like the trust list.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from license_verifier.trustlist import verify_root_jws

LIST_SIZE = 131_072  # bits; §6.1 recommends at least 131,072 entries for herd privacy
PURPOSES = ("revocation", "suspension")
JWS_TYPE = "vc+jwt"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


class StatusListError(Exception):
    """A status list that cannot be trusted or read; ``code`` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def list_id(issuer_code: str, list_no: int, purpose: str) -> str:
    """Return the public id of an issuer's status list, e.g. 11990100MB0000019L-1-revocation."""
    return f"{issuer_code}-{list_no}-{purpose}"


def parse_list_id(value: str) -> tuple[str, int, str]:
    """Split a status list id into (issuer code, list number, purpose); ValueError if malformed."""
    code, _, rest = value.partition("-")
    number, _, purpose = rest.partition("-")
    if len(code) != 18 or not number.isdigit() or purpose not in PURPOSES or len(number) > 9:
        raise ValueError(f"not a status list id: {value!r}")
    return code, int(number), purpose


def bit_is_set(bits: bytes, index: int) -> bool:
    """Return the bit at index; index 0 is the left-most bit of the first byte (§3.2)."""
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def with_bit(bits: bytes, index: int, value: bool) -> bytes:
    """Return bits with one bit set or cleared."""
    data = bytearray(bits)
    mask = 0x80 >> (index & 7)
    data[index >> 3] = data[index >> 3] | mask if value else data[index >> 3] & ~mask
    return bytes(data)


def encode_list(bits: bytes) -> str:
    """GZIP then base64url (no padding), with the multibase prefix "u" (§2.1 encodedList)."""
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).rstrip(b"=").decode("ascii")


def decode_list(encoded: str) -> bytes:
    """Reverse encode_list; raise StatusListError on anything else."""
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > 400_000:
        raise StatusListError("bad_list", "encodedList must be multibase base64url ('u' prefix)")
    try:
        data = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
        bits = gzip.decompress(data)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
        raise StatusListError("bad_list", "encodedList is not base64url GZIP") from None
    if len(bits) * 8 < LIST_SIZE:
        raise StatusListError("bad_list", f"a list must hold at least {LIST_SIZE} entries")
    return bits


@dataclass(frozen=True)
class StatusListView:
    """One decoded status list, when it last changed, and when this copy of it was fetched."""

    id: str
    purpose: str
    bits: bytes
    valid_from: datetime  # when the list last changed (the credential's validFrom)
    fetched_at: datetime | None = None  # when the verifier holding this copy fetched it; None: not known

    def is_set(self, index: int) -> bool:
        return 0 <= index < len(self.bits) * 8 and bit_is_set(self.bits, index)


def credential(view: StatusListView, *, base_url: str) -> dict[str, Any]:
    """Return the BitstringStatusListCredential for a list (W3C Bitstring Status List §2.2)."""
    url = f"{base_url}/status-lists/{view.id}"
    return {
        "@context": [VC_CONTEXT], "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": base_url, "validFrom": view.valid_from.isoformat().replace("+00:00", "Z"),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList",
                              "statusPurpose": view.purpose, "encodedList": encode_list(view.bits)},
    }


def verify_status_list(token: str, root_cert_der: bytes, *, fetched_at: datetime) -> StatusListView:
    """Check a status list JWT against the pinned root certificate and decode it, noting when it was fetched."""
    if fetched_at.utcoffset() is None:
        raise ValueError("fetched_at must be timezone-aware")  # a caller bug, not a property of the list
    return _view(verify_root_jws(token, root_cert_der, typ=JWS_TYPE, error=StatusListError), fetched_at)


def _view(document: dict, fetched_at: datetime) -> StatusListView:
    subject = document.get("credentialSubject")
    if "BitstringStatusListCredential" not in (document.get("type") or []) or not isinstance(subject, dict):
        raise StatusListError("bad_document", "not a BitstringStatusListCredential")
    try:
        identifier = str(document["id"]).rsplit("/", 1)[-1]
        _, _, purpose = parse_list_id(identifier)
        valid_from = datetime.fromisoformat(str(document["validFrom"]))
    except (KeyError, ValueError):
        raise StatusListError("bad_document", "id or validFrom is missing or malformed") from None
    if subject.get("statusPurpose") != purpose or valid_from.tzinfo is None:
        raise StatusListError("bad_document", "statusPurpose or validFrom does not match")
    return StatusListView(identifier, purpose, decode_list(subject.get("encodedList")), valid_from, fetched_at)
