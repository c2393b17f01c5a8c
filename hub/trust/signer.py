"""Raw signers and signature checks for the algorithms the hub's QR codes use.

Signatures are raw: ECDSA P-256 as r||s (RFC 9053 §2.1), Ed25519 as the 64-byte RFC 8032 output
(RFC 9053 §2.2), SM2 with SM3 as r||s (GB/T 32918.2, hub/trust/sm2.py). Each algorithm is one row
of ``_ALGORITHMS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from hub.trust import sm2

KID_LENGTH = 8
_P256_BYTES = 32
# COSE has no SM2 algorithm: a Private Use value (IANA "COSE Algorithms": integers below -65536), named
# "hub-SM2-SM3" in docs/qr-format.md section 12. Change it only together with a new QR prefix.
COSE_SM2 = -65537


class Signer(Protocol):
    """Something that signs messages for one issuer key."""

    kid: bytes
    alg: str

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class _Algorithm:
    cose_id: int
    accepts: Callable[[Any], bool]
    sign: Callable[[Any, bytes], bytes]
    verify: Callable[[Any, bytes, bytes], None]  # raises on a bad signature


def _is_p256(key: Any) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    )


def _is_ed25519(key: Any) -> bool:
    return isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)


def _es256_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    # RFC 6979 deterministic nonces where OpenSSL offers them (>= 3.2): no dependence on the RNG
    # and reproducible test vectors. Verifiers cannot tell the difference.
    try:
        der = key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:
        der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


def _es256_verify(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> None:
    if len(signature) != 2 * _P256_BYTES:  # RFC 9053 §2.1: fixed-length r||s
        raise InvalidSignature
    r = int.from_bytes(signature[:_P256_BYTES], "big")
    s = int.from_bytes(signature[_P256_BYTES:], "big")
    key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))


def _eddsa_sign(key: ed25519.Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def _eddsa_verify(key: ed25519.Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    key.verify(signature, message)


_ALGORITHMS: dict[str, _Algorithm] = {
    "ES256": _Algorithm(-7, _is_p256, _es256_sign, _es256_verify),
    "EdDSA": _Algorithm(-8, _is_ed25519, _eddsa_sign, _eddsa_verify),
    "SM2": _Algorithm(COSE_SM2, sm2.is_sm2_key, sm2.sign, sm2.verify),
}

# RFC 9053 §2.1 and §2.2 (IANA "COSE Algorithms" registry); SM2 is private use (COSE_SM2).
COSE_ALGS: dict[str, int] = {name: algorithm.cose_id for name, algorithm in _ALGORITHMS.items()}


def algorithm_for_key(key: Any) -> str | None:
    """Return the algorithm name a private or public key signs with, or None."""
    return next((name for name, a in _ALGORITHMS.items() if a.accepts(key)), None)


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


class KeySigner:
    """Sign with a private key held in this process."""

    def __init__(self, private_key: Any, *, kid: bytes) -> None:
        alg = algorithm_for_key(private_key)
        if alg is None or not hasattr(private_key, "sign"):
            raise TypeError("private key must be an ECDSA P-256, Ed25519 or SM2 private key")
        if len(kid) != KID_LENGTH:
            raise ValueError(f"kid must be {KID_LENGTH} bytes")
        self.kid = bytes(kid)
        self.alg = alg
        self._key = private_key

    def sign(self, message: bytes) -> bytes:
        """Return the raw signature over message."""
        return _ALGORITHMS[self.alg].sign(self._key, message)

    @property
    def private_key(self) -> Any:
        """The key itself, for signers that need it whole (PAdES through pyHanko)."""
        return self._key

    def __repr__(self) -> str:
        return f"KeySigner(alg={self.alg!r}, kid={self.kid.hex()!r})"


def verify_raw(public_key: Any, alg: str, signature: bytes, message: bytes) -> bool:
    """Return whether signature is a valid alg signature over message; never raise."""
    algorithm = _ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if algorithm is None or not algorithm.accepts(public_key) or not hasattr(public_key, "verify"):
        return False
    if not isinstance(signature, bytes) or not isinstance(message, bytes):
        return False
    try:
        algorithm.verify(public_key, signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
