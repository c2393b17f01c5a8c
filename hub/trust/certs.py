"""X.509 material: the hub root CA and department issuer certificates (EU DCC Document Signer pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

ROOT_VALIDITY = timedelta(days=365 * 20)
ISSUER_VALIDITY = timedelta(days=365 * 5)
KEY_ALGS = ("ES256", "EdDSA")

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class KeyMaterial:
    """A private key with its certificate."""

    private_key: PrivateKey
    certificate: x509.Certificate

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def generate_key(alg: str) -> PrivateKey:
    """Generate a private key for a signature algorithm name."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {alg!r}")


def _sign_hash(key: PrivateKey):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def make_root(now: datetime, *, name: str = "政务数据共享交换枢纽根CA Hub Root CA") -> KeyMaterial:
    """Create the self-signed hub root CA (P-256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "政务数据共享交换枢纽"),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyMaterial(key, cert)


def make_issuer(root: KeyMaterial, *, code: str | None, name: str, alg: str, now: datetime,
                common_name: str | None = None) -> KeyMaterial:
    """Create a signing key and its certificate signed by the root (a department issuer, or the token key)."""
    key = generate_key(alg)
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
    if code:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, code))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{name} 电子证照签发"))
    subject = x509.Name(attributes)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + ISSUER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.private_key.public_key()), critical=False
        )
        .sign(root.private_key, _sign_hash(root.private_key))
    )
    return KeyMaterial(key, cert)


def encrypt_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """Serialise a private key as passphrase-encrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """Load a passphrase-encrypted PKCS#8 PEM private key."""
    key = serialization.load_pem_private_key(pem, password=passphrase)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError("unsupported key type")
    return key
