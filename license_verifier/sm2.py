"""SM2 signature checks with SM3 (GB/T 32918.2, GM/T 0009) through tongsuopy, Tongsuo's fork of pyca/cryptography.

pyca/cryptography has no SM2 curve, so SM2 public keys are tongsuopy objects. Tongsuo loads every key
on the SM2 curve as an SM2 key (``EVP_PKEY_SM2``), and then ``key.verify(sig, data, ECDSA(SM3()))``
checks the SM2 signature over SM3(Z_A || data), Z_A computed with the default user id
"1234567812345678" (GM/T 0009-2012 §10), not ECDSA.

Signatures are the 64-byte r || s, each a 32-byte big-endian integer (GM/T 0009 §7.3 without the
DER wrapping), like ES256 in COSE.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tongsuopy.crypto import exceptions as tongsuo_exceptions
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec

CURVE_OID = "1.2.156.10197.1.301"  # GM/T 0006: the SM2 curve, as id-ecPublicKey's namedCurve
SCALAR_BYTES = 32
SIGNATURE_BYTES = 2 * SCALAR_BYTES

PrivateKey = ec.EllipticCurvePrivateKey  # tongsuopy's, always on the SM2 curve here
PublicKey = ec.EllipticCurvePublicKey

SIGNATURE = ec.ECDSA(hashes.SM3())  # SM2-with-SM3 on an SM2 key (see the module docstring)


def is_sm2_key(key: Any) -> bool:
    """Return whether key is a tongsuopy SM2 private or public key."""
    return isinstance(key, PrivateKey | PublicKey) and isinstance(key.curve, ec.SM2)


def verify(public_key: PublicKey, signature: bytes, message: bytes) -> None:
    """Check an r || s signature over message; raise InvalidSignature if it does not verify."""
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignature
    r = int.from_bytes(signature[:SCALAR_BYTES], "big")
    s = int.from_bytes(signature[SCALAR_BYTES:], "big")
    # Tongsuo rejects r, s outside [1, n-1] itself (GB/T 32918.2 §7.1 B1, B2).
    try:
        public_key.verify(encode_dss_signature(r, s), message, SIGNATURE)
    except tongsuo_exceptions.InvalidSignature:
        raise InvalidSignature from None


def load_public_key_der(spki: bytes) -> PublicKey:
    """Load a DER SubjectPublicKeyInfo holding an SM2 key; raise ValueError otherwise."""
    try:
        key = serialization.load_der_public_key(spki)
    except tongsuo_exceptions.UnsupportedAlgorithm as error:
        raise ValueError(f"not an SM2 public key: {error}") from None
    if not is_sm2_key(key):
        raise ValueError("not an SM2 public key")
    return key


def public_key_from_certificate(cert_der: bytes) -> PublicKey:
    """Return the SM2 public key of a DER X.509 certificate; raise ValueError otherwise."""
    try:
        spki = asn1_x509.Certificate.load(cert_der)["tbs_certificate"]["subject_public_key_info"]
        spki_der = spki.dump()
    except (ValueError, TypeError, KeyError):
        raise ValueError("not a DER X.509 certificate") from None
    # Tongsuo checks the rest: id-ecPublicKey with the SM2 namedCurve (RFC 5480 §2.1.1), point on it.
    return load_public_key_der(spki_der)
