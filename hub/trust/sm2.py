"""SM2 signatures with SM3 (GB/T 32918.2, GM/T 0009) through tongsuopy, Tongsuo's fork of pyca/cryptography.

pyca/cryptography has no SM2 curve, so SM2 keys are tongsuopy objects. Tongsuo loads every key on
the SM2 curve as an SM2 key (``EVP_PKEY_SM2``), and then ``key.sign(data, ECDSA(SM3()))`` is the
SM2 signature over SM3(Z_A || data), Z_A computed with the default user id "1234567812345678"
(GM/T 0009-2012 §10), not ECDSA. Tongsuopy offers no way to set another user id. tests/test_sm2.py
checks this against the published GM/T 0003.5 example and the independent gmssl package.

Signatures are the 64-byte r || s, each a 32-byte big-endian integer (GM/T 0009 §7.3 without the
DER wrapping), like ES256 in COSE. Keys at rest are PKCS#8 encrypted with the passphrase: PBES2,
PBKDF2-HMAC-SHA256 and SM4-CBC (Tongsuo's best available PKCS#8 encryption).
"""

from __future__ import annotations

import base64
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.crypto import exceptions as tongsuo_exceptions
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec

CURVE_OID = "1.2.156.10197.1.301"  # GM/T 0006: the SM2 curve, as id-ecPublicKey's namedCurve
JWK_CURVE = "SM2"  # not a registered JOSE curve name; see docs/qr-format.md section 12
SCALAR_BYTES = 32
SIGNATURE_BYTES = 2 * SCALAR_BYTES

PrivateKey = ec.EllipticCurvePrivateKey  # tongsuopy's, always on the SM2 curve here
PublicKey = ec.EllipticCurvePublicKey

_SIGNATURE = ec.ECDSA(hashes.SM3())  # SM2-with-SM3 on an SM2 key (see the module docstring)


def generate_private_key() -> PrivateKey:
    """Generate an SM2 private key."""
    return ec.generate_private_key(ec.SM2())


def private_key_from_value(value: int) -> PrivateKey:
    """Return the SM2 private key with scalar value (fixed test keys, imports)."""
    return ec.derive_private_key(value, ec.SM2())


def is_sm2_key(key: Any) -> bool:
    """Return whether key is a tongsuopy SM2 private or public key."""
    return isinstance(key, PrivateKey | PublicKey) and isinstance(key.curve, ec.SM2)


def sign(private_key: PrivateKey, message: bytes) -> bytes:
    """Return the 64-byte r || s SM2-with-SM3 signature over message (random nonce)."""
    r, s = decode_dss_signature(private_key.sign(message, _SIGNATURE))
    return r.to_bytes(SCALAR_BYTES, "big") + s.to_bytes(SCALAR_BYTES, "big")


def verify(public_key: PublicKey, signature: bytes, message: bytes) -> None:
    """Check an r || s signature over message; raise InvalidSignature if it does not verify."""
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignature
    r = int.from_bytes(signature[:SCALAR_BYTES], "big")
    s = int.from_bytes(signature[SCALAR_BYTES:], "big")
    # Tongsuo rejects r, s outside [1, n-1] itself (GB/T 32918.2 §7.1 B1, B2).
    try:
        public_key.verify(encode_dss_signature(r, s), message, _SIGNATURE)
    except tongsuo_exceptions.InvalidSignature:
        raise InvalidSignature from None


def encrypt_private_key(private_key: PrivateKey, passphrase: bytes) -> bytes:
    """Serialise an SM2 private key as passphrase-encrypted PKCS#8 PEM."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_private_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """Load a passphrase-encrypted PKCS#8 PEM SM2 key; raise ValueError for anything else."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (TypeError, tongsuo_exceptions.UnsupportedAlgorithm) as error:
        raise ValueError(f"not an encrypted SM2 private key: {error}") from None
    if not is_sm2_key(key):
        raise ValueError("not an SM2 private key")
    return key


def public_key_der(key: PrivateKey | PublicKey) -> bytes:
    """Return the DER SubjectPublicKeyInfo: id-ecPublicKey with the SM2 curve OID."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


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


def public_jwk(public_key: PublicKey) -> dict[str, str]:
    """Return the public key as a JWK, ``{"kty": "EC", "crv": "SM2", "x", "y"}`` (RFC 7518 §6.2.1 shape)."""
    numbers = public_key.public_numbers()

    def b64url(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(SCALAR_BYTES, "big")).rstrip(b"=").decode("ascii")

    return {"kty": "EC", "crv": JWK_CURVE, "x": b64url(numbers.x), "y": b64url(numbers.y)}
