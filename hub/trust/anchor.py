"""The hub root certificate as verifiers pin it: PEM, SHA-256 fingerprint, subject and validity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hub.core.errors import HubError
from hub.trust.tables import HubKey


def fingerprint(der: bytes) -> str:
    """SHA-256 over the certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it.

    32 bytes as uppercase hexadecimal pairs joined by colons (95 characters), e.g. "3F:A0:...:9C".
    """
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


@dataclass(frozen=True)
class TrustAnchor:
    """The hub root CA certificate and what a verifier compares when it pins it."""

    certificate_der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint_sha256(self) -> str:
        return fingerprint(self.certificate_der)

    def as_json(self) -> dict:
        """Return the anchor as GET /trust-anchor shows it."""
        cert = self.certificate
        return {
            "certificate_pem": self.pem, "fingerprint_sha256": self.fingerprint_sha256,
            "subject": cert.subject.rfc4514_string(), "serial_number": format(cert.serial_number, "X"),
            "not_before": _rfc3339(cert.not_valid_before_utc), "not_after": _rfc3339(cert.not_valid_after_utc),
        }


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


_ROOT_CERTIFICATE = (select(HubKey.certificate_der).where(HubKey.purpose == "root", HubKey.status == "active")
                     .order_by(HubKey.created_at.desc()).limit(1))


def trust_anchor(session: Session) -> TrustAnchor:
    """Return the active hub root certificate."""
    der = session.scalar(_ROOT_CERTIFICATE)
    if der is None:
        raise HubError("The hub root CA is missing: run `hub init`.")
    return TrustAnchor(der)


def stored_trust_anchor(engine: Engine) -> TrustAnchor | None:
    """Return the root certificate of an initialised database, or None before `hub init` created it."""
    if not inspect(engine).has_table(HubKey.__tablename__):
        return None
    with Session(engine) as session:
        der = session.scalar(_ROOT_CERTIFICATE)
    return TrustAnchor(der) if der is not None else None
