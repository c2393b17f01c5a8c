"""The signature algorithms a hub QR may carry, and how each one is checked.

Signatures are raw: ECDSA P-256 as r||s (RFC 9053 §2.1), Ed25519 as the 64-byte RFC 8032 output
(RFC 9053 §2.2), SM2 with SM3 as r||s (GB/T 32918.2, license_verifier/sm2.py). Each algorithm is one
row of ``ALGORITHMS``; the hub's signing side keys its signers by the same names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from license_verifier import sm2

KID_LENGTH = 8
P256_BYTES = 32
# COSE has no SM2 algorithm: a Private Use value (IANA "COSE Algorithms": integers below -65536), named
# "hub-SM2-SM3" in docs/qr-format.md section 12. Change it only together with a new QR prefix.
COSE_SM2 = -65537
_ES256_HASH = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class Algorithm:
    """One row of the table: its COSE id, which keys it takes, and its check (raises on a bad signature)."""

    cose_id: int
    accepts: Callable[[Any], bool]
    verify: Callable[[Any, bytes, bytes], None]


def _is_p256(key: Any) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    )


def _is_ed25519(key: Any) -> bool:
    return isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)


def _es256_verify(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> None:
    if len(signature) != 2 * P256_BYTES:  # RFC 9053 §2.1: fixed-length r||s
        raise InvalidSignature
    r = int.from_bytes(signature[:P256_BYTES], "big")
    s = int.from_bytes(signature[P256_BYTES:], "big")
    key.verify(encode_dss_signature(r, s), message, _ES256_HASH)


def _eddsa_verify(key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    key.verify(signature, message)


ALGORITHMS: dict[str, Algorithm] = {
    "ES256": Algorithm(-7, _is_p256, _es256_verify),
    "EdDSA": Algorithm(-8, _is_ed25519, _eddsa_verify),
    "SM2": Algorithm(COSE_SM2, sm2.is_sm2_key, sm2.verify),
}

# RFC 9053 §2.1 and §2.2 (IANA "COSE Algorithms" registry); SM2 is private use (COSE_SM2).
COSE_ALGS: dict[str, int] = {name: algorithm.cose_id for name, algorithm in ALGORITHMS.items()}


def algorithm_for_key(key: Any) -> str | None:
    """Return the algorithm name a private or public key signs with, or None."""
    return next((name for name, a in ALGORITHMS.items() if a.accepts(key)), None)


def certificate_public_key(cert_der: bytes) -> Any:
    """Return the public key of a DER X.509 certificate, SM2 included; raise ValueError if unreadable."""
    certificate = x509.load_der_x509_certificate(cert_der)
    try:
        return certificate.public_key()
    except UnsupportedAlgorithm:  # pyca/cryptography has no SM2 curve
        return sm2.public_key_from_certificate(cert_der)


def kid_for_certificate(cert_der: bytes) -> bytes:
    """Return the key id of an issuer certificate: the first 8 bytes of SHA-256 over its DER."""
    return hashlib.sha256(cert_der).digest()[:KID_LENGTH]


def signature_check(public_key: Any, alg: str) -> Callable[[bytes, bytes], bool]:
    """Return a check of alg signatures by public_key: the key is matched to alg once, then used often."""
    algorithm = ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if algorithm is None or not algorithm.accepts(public_key) or not hasattr(public_key, "verify"):
        return _refuse
    verify = algorithm.verify

    def check(signature: bytes, message: bytes) -> bool:
        try:
            verify(public_key, signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def _refuse(signature: bytes, message: bytes) -> bool:
    return False


def verify_raw(public_key: Any, alg: str, signature: bytes, message: bytes) -> bool:
    """Return whether signature is a valid alg signature over message; never raise."""
    if not isinstance(signature, bytes) or not isinstance(message, bytes):
        return False
    return signature_check(public_key, alg)(signature, message)
