"""Response bodies of the public trust endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

FINGERPRINT_PATTERN = r"^[0-9A-F]{2}(:[0-9A-F]{2}){31}$"


class TrustAnchorOut(BaseModel):
    certificate_pem: str = Field(description="the hub root CA certificate, PEM (RFC 7468)")
    fingerprint_sha256: str = Field(
        pattern=FINGERPRINT_PATTERN,
        description="SHA-256 over the certificate's DER: 32 uppercase hex pairs joined by colons, as "
                    "`openssl x509 -noout -fingerprint -sha256` prints it; compare it with the value "
                    "published out of band before pinning")
    subject: str = Field(description="the certificate subject (RFC 4514)")
    serial_number: str = Field(description="the certificate serial number, uppercase hexadecimal")
    not_before: datetime
    not_after: datetime

