"""Raw signers for the algorithms the hub's QR codes use.

Signatures are raw, as ``license_verifier.algorithms`` checks them: ECDSA P-256 as r||s (RFC 9053
§2.1), Ed25519 as the 64-byte RFC 8032 output (RFC 9053 §2.2), SM2 with SM3 as r||s (GB/T 32918.2,
hub/trust/sm2.py). Each algorithm is one row of ``_SIGNERS``, keyed like the verifier's table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hub.trust import sm2
from license_verifier.algorithms import KID_LENGTH, P256_BYTES, algorithm_for_key


class Signer(Protocol):
    """Something that signs messages for one issuer key."""

    kid: bytes
    alg: str

    def sign(self, message: bytes) -> bytes: ...


def _es256_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    # RFC 6979 deterministic nonces where OpenSSL offers them (>= 3.2): no dependence on the RNG
    # and reproducible test vectors. Verifiers cannot tell the difference.
    try:
        der = key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:
        der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(P256_BYTES, "big") + s.to_bytes(P256_BYTES, "big")


def _eddsa_sign(key: ed25519.Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


_SIGNERS: dict[str, Callable[[Any, bytes], bytes]] = {"ES256": _es256_sign, "EdDSA": _eddsa_sign, "SM2": sm2.sign}


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
        return _SIGNERS[self.alg](self._key, message)

    @property
    def private_key(self) -> Any:
        """The key itself, for signers that need it whole (PAdES through pyHanko)."""
        return self._key

    def __repr__(self) -> str:
        return f"KeySigner(alg={self.alg!r}, kid={self.kid.hex()!r})"
