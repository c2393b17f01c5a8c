"""X.509 material: the hub root CA and department issuer certificates (EU DCC Document Signer pattern).

The root is always ECDSA P-256. An SM2 issuer's certificate is signed by that root like any other,
but pyca/cryptography cannot hold an SM2 public key, so its TBSCertificate is assembled with
asn1crypto (names and extensions still DER-encoded by pyca) and signed with the root key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from hub.trust import sm2

ROOT_VALIDITY = timedelta(days=365 * 20)
ISSUER_VALIDITY = timedelta(days=365 * 5)
KEY_ALGS = ("ES256", "EdDSA", "SM2")

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | sm2.PrivateKey


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
    if alg == "SM2":
        return sm2.generate_private_key()
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


@dataclass(frozen=True)
class _CertificateFields:
    subject: x509.Name
    serial: int
    not_before: datetime
    not_after: datetime
    extensions: list[tuple[x509.ExtensionType, bool]]  # with their criticality


def make_issuer(root: KeyMaterial, *, code: str | None, name: str, alg: str, now: datetime,
                common_name: str | None = None) -> KeyMaterial:
    """Create a signing key and its certificate signed by the root (a department issuer, or the token key)."""
    key = generate_key(alg)
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
    if code:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, code))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{name} 电子证照签发"))
    fields = _CertificateFields(
        subject=x509.Name(attributes), serial=x509.random_serial_number(),
        not_before=now - timedelta(minutes=5), not_after=now + ISSUER_VALIDITY,
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.KeyUsage(True, True, False, False, False, False, False, False, False), True),
            (_subject_key_identifier(key), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(root.private_key.public_key()), False),
        ],
    )
    build = _sm2_certificate if sm2.is_sm2_key(key) else _certificate
    return KeyMaterial(key, build(root, key, fields))


def _subject_key_identifier(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    if not sm2.is_sm2_key(key):
        return x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # RFC 5280 §4.2.1.2 (1): SHA-1 over the subjectPublicKey BIT STRING value, here the EC point,
    # which is what from_public_key computes for the other key types.
    point = asn1_keys.PublicKeyInfo.load(sm2.public_key_der(key))["public_key"].native
    return x509.SubjectKeyIdentifier(hashlib.sha1(point).digest())


def _certificate(root: KeyMaterial, key: PrivateKey, fields: _CertificateFields) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(fields.subject).issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(fields.serial).not_valid_before(fields.not_before).not_valid_after(fields.not_after)
    )
    for extension, critical in fields.extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(root.private_key, _sign_hash(root.private_key))


def _sm2_certificate(root: KeyMaterial, key: sm2.PrivateKey, fields: _CertificateFields) -> x509.Certificate:
    """Assemble the certificate of an SM2 key (RFC 5280 §4.1) and sign it ECDSA-SHA256 with the root key."""
    if not isinstance(root.private_key, ec.EllipticCurvePrivateKey):
        raise TypeError("SM2 issuer certificates are signed by the ECDSA P-256 hub root")
    algorithm = {"algorithm": "sha256_ecdsa"}  # ecdsa-with-SHA256, RFC 5758 §3.2
    tbs = asn1_x509.TbsCertificate({
        "version": "v3",
        "serial_number": fields.serial,
        "signature": algorithm,
        "issuer": asn1_x509.Name.load(root.certificate.subject.public_bytes()),
        "validity": {"not_before": _asn1_time(fields.not_before), "not_after": _asn1_time(fields.not_after)},
        "subject": asn1_x509.Name.load(fields.subject.public_bytes()),
        # id-ecPublicKey with namedCurve 1.2.156.10197.1.301 (the SM2 curve), the point uncompressed.
        "subject_public_key_info": asn1_keys.PublicKeyInfo.load(sm2.public_key_der(key)),
        "extensions": [{"extn_id": ext.oid.dotted_string, "critical": critical,
                        "extn_value": asn1_core.ParsableOctetString(ext.public_bytes())}
                       for ext, critical in fields.extensions],
    })
    signature = root.private_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))  # DER Ecdsa-Sig-Value
    certificate = asn1_x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature,
    })
    return x509.load_der_x509_certificate(certificate.dump())


def _asn1_time(value: datetime) -> asn1_x509.Time:
    """Return an X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), whole seconds."""
    # A naive datetime is UTC, as pyca/cryptography's builder takes it.
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    value = value.replace(microsecond=0)
    return asn1_x509.Time({"utc_time" if value.year < 2050 else "general_time": value})


def encrypt_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """Serialise a private key as passphrase-encrypted PKCS#8 PEM."""
    if sm2.is_sm2_key(key):
        return sm2.encrypt_private_key(key, passphrase)  # SM4-CBC rather than AES-256-CBC
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_key(pem: bytes, passphrase: bytes) -> PrivateKey:
    """Load a passphrase-encrypted PKCS#8 PEM private key."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, UnsupportedAlgorithm):
        # pyca/cryptography neither decrypts SM4-CBC nor knows the SM2 curve; a wrong passphrase
        # also lands here and then fails again in Tongsuo, with ValueError.
        return sm2.decrypt_private_key(pem, passphrase)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError("unsupported key type")
    return key
