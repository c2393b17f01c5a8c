"""Status check cost at scale: one million licenses across an issuer's status lists."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import date, datetime, timezone

from hub.trust.certs import make_issuer, make_root
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr, issuer_entry
from license_verifier.algorithms import kid_for_certificate
from license_verifier.qr import LicenseClaims
from license_verifier.statuslist import LIST_SIZE, StatusListView, credential, decode_list, list_id
from license_verifier.trustlist import TrustList
from license_verifier.verifier import verify

LICENSES = 1_000_000
PER_LIST = LIST_SIZE // 2  # the hub opens a new list pair at half full
ISSUER = "11990100MB00000435"
TYPE = "11100000MB9000031M001"


def _lists(now: datetime) -> dict[str, StatusListView]:
    """Every list pair one million licenses need, about 1% revoked and 0.5% suspended."""
    pairs = -(-LICENSES // PER_LIST)
    lists = {}
    for number in range(1, pairs + 1):
        for purpose, share in (("revocation", 100), ("suspension", 200)):
            bits = bytearray(LIST_SIZE // 8)
            for _ in range(PER_LIST // share):
                index = secrets.randbelow(LIST_SIZE)
                bits[index >> 3] |= 0x80 >> (index & 7)
            view = StatusListView(list_id(ISSUER, number, purpose), purpose, bytes(bits), now)
            lists[view.id] = view
    return lists


def _timed(fn: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def status_rows(seconds: float) -> list[tuple[str, str, str]]:
    """Return summary rows: verify() with and without status lists, list sizes, decode cost."""
    now = datetime(2026, 11, 21, 4, tzinfo=timezone.utc)
    root = make_root(now)
    issuer = make_issuer(root, code=ISSUER, name="示例市公安局", alg="ES256", now=now)
    doc = {"issuers": [issuer_entry(issuer.cert_der, code=ISSUER, name="示例市公安局", license_types=[TYPE])],
           "license_types": []}
    trust = TrustList.from_document(doc | {"format": "hub-trust-list/1", "issued_at": now.isoformat()})
    signer = KeySigner(issuer.private_key, kid=kid_for_certificate(issuer.cert_der))
    claims = LicenseClaims(TYPE, ISSUER, 2026000001, 1, date(2026, 11, 20), date(2027, 2, 17), "11010519491231002X",
                           "陈美玲", (date(2026, 11, 20),), status_ref=(9, 12345))
    qr = encode_qr(claims, signer)
    lists = _lists(now)
    _timed(lambda: verify(qr, trust, now, lists), seconds / 4)  # warm up
    rounds = [(_timed(lambda: verify(qr, trust, now), seconds / 2),
               _timed(lambda: verify(qr, trust, now, lists), seconds / 2)) for _ in range(2)]
    plain, checked = max(r[0] for r in rounds), max(r[1] for r in rounds)
    encoded = [credential(v, base_url="https://hub.example")["credentialSubject"]["encodedList"] for v in lists.values()]
    decode = _timed(lambda: decode_list(encoded[0]), seconds / 2)
    size = sum(len(e) for e in encoded)
    return [
        ("Status check at 1M licenses", f"{len(lists)} lists of {LIST_SIZE:,} bits in memory",
         f"verify() {checked:,.0f}/s with lists vs {plain:,.0f}/s without ({checked / plain:.2f}×)"),
        ("Status lists for 1M licenses", "gzip + base64url, all lists",
         f"{size / 1024:,.0f} KiB to download; {decode:,.0f} list decodes/s"),
    ]
