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
from jwt.algorithms import ECAlgorithm

from hub.trust.service import load_root
from license_verifier.trustlist import JWS_ALG, verify_root_jws

RECEIPT_TYPE = "exchange-receipt+jwt"


def digest(document: Any) -> str:
    """SHA-256 (base64url) of a document's canonical JSON (sorted keys, UTF-8)."""
    raw = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode("ascii")


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


class ReceiptSigner:
    """Signs receipts with the hub root key, loaded once per process.

    One receipt per exchange query: the protected header (with the root certificate in x5c) is encoded once,
    so each receipt costs one ES256 signature and the payload's JSON.
    """

    def __init__(self, session_factory, *, passphrase: bytes, issuer: str) -> None:
        self._factory, self._passphrase, self._issuer = session_factory, passphrase, issuer
        self._signing: tuple[object, bytes] | None = None  # (root private key, encoded protected header)
        self._lock = threading.Lock()
        self._es256 = ECAlgorithm(ECAlgorithm.SHA256)

    def sign(self, claims: dict, *, now: datetime) -> str:
        """Return the claims, with iss and iat, as a compact JWS (UTF-8 JSON payload)."""
        key, header = self._signing or self._load()
        payload = orjson.dumps({"iss": self._issuer, "iat": int(now.timestamp())} | claims)
        signing_input = header + b"." + _b64url(payload)
        return (signing_input + b"." + _b64url(self._es256.sign(signing_input, key))).decode("ascii")

    def _load(self) -> tuple[object, bytes]:
        with self._lock:
            if self._signing is None:
                with self._factory() as session:
                    root = load_root(session, self._passphrase)
                header = {"alg": JWS_ALG, "typ": RECEIPT_TYPE, "x5c": [base64.b64encode(root.cert_der).decode()]}
                self._signing = (root.private_key, _b64url(orjson.dumps(header)))
        return self._signing


def verify_receipt(receipt: str, root_cert_der: bytes) -> dict:
    """Check a receipt against the pinned hub root certificate and return its claims."""
    return verify_root_jws(receipt, root_cert_der, typ=RECEIPT_TYPE)
