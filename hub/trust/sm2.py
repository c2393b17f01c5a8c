"""SM2 private keys and signing with SM3 (GB/T 32918.2, GM/T 0009) through tongsuopy.

The checking side (keys from certificates, signature checks) is ``license_verifier.sm2``; its
docstring says how Tongsuo computes SM2-with-SM3. ``key.sign(data, ECDSA(SM3()))`` on an SM2 key is
the SM2 signature over SM3(Z_A || data) with the default user id; tongsuopy offers no way to set
another. tests/trust/test_sm2.py checks this against the published GM/T 0003.5 example and the
independent gmssl package.

Signatures are the 64-byte r || s. Keys at rest are PKCS#8 encrypted with the passphrase: PBES2,
PBKDF2-HMAC-SHA256 and SM4-CBC (Tongsuo's best available PKCS#8 encryption).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from tongsuopy.crypto import exceptions as tongsuo_exceptions
from tongsuopy.crypto import serialization
from tongsuopy.crypto.asymciphers import ec

from license_verifier.sm2 import SCALAR_BYTES, SIGNATURE, PrivateKey, PublicKey, is_sm2_key
from license_verifier.trustlist import b64url

JWK_CURVE = "SM2"  # not a registered JOSE curve name; see docs/qr-format.md section 12


def generate_private_key() -> PrivateKey:
    """Generate an SM2 private key."""
    return ec.generate_private_key(ec.SM2())


def private_key_from_value(value: int) -> PrivateKey:
    """Return the SM2 private key with scalar value (fixed test keys, imports)."""
    return ec.derive_private_key(value, ec.SM2())


def sign(private_key: PrivateKey, message: bytes) -> bytes:
    """Return the 64-byte r || s SM2-with-SM3 signature over message (random nonce)."""
    r, s = decode_dss_signature(private_key.sign(message, SIGNATURE))
    return r.to_bytes(SCALAR_BYTES, "big") + s.to_bytes(SCALAR_BYTES, "big")


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


def public_jwk(public_key: PublicKey) -> dict[str, str]:
    """Return the public key as a JWK, ``{"kty": "EC", "crv": "SM2", "x", "y"}`` (RFC 7518 §6.2.1 shape)."""
    numbers = public_key.public_numbers()
    x, y = (b64url(value.to_bytes(SCALAR_BYTES, "big")) for value in (numbers.x, numbers.y))
    return {"kty": "EC", "crv": JWK_CURVE, "x": x, "y": y}
