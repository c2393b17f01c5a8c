"""Signed exchange receipts: evidence a requester keeps of what it asked, what it got, when and why.

A receipt is a compact JWS (ES256, the hub root key, its certificate in `x5c`, `typ: exchange-receipt+jwt`) over
hashes of the request and the response, so it proves the exchange without repeating personal data.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import datetime
from typing import Any

import orjson

from hub.trust.service import load_root
from hub.verify.trustlist import sign_root_jws, verify_root_jws

RECEIPT_TYPE = "exchange-receipt+jwt"


def digest(document: Any) -> str:
    """SHA-256 (base64url) of a document's canonical JSON (sorted keys, UTF-8)."""
    raw = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode("ascii")


class ReceiptSigner:
    """Signs receipts with the hub root key, loaded once per process."""

    def __init__(self, session_factory, *, passphrase: bytes, issuer: str) -> None:
        self._factory, self._passphrase, self._issuer = session_factory, passphrase, issuer
        self._root = None
        self._lock = threading.Lock()

    def sign(self, claims: dict, *, now: datetime) -> str:
        root = self._root or self._load()
        document = {"iss": self._issuer, "iat": int(now.timestamp())} | claims
        return sign_root_jws(document, root.private_key, root.cert_der, typ=RECEIPT_TYPE)

    def _load(self):
        with self._lock:
            if self._root is None:
                with self._factory() as session:
                    self._root = load_root(session, self._passphrase)
        return self._root


def verify_receipt(receipt: str, root_cert_der: bytes) -> dict:
    """Check a receipt against the pinned hub root certificate and return its claims."""
    return verify_root_jws(receipt, root_cert_der, typ=RECEIPT_TYPE)
