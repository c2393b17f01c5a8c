"""Keys and certificates held by the hub; private keys only ever stored encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class HubKey(Base):
    """A signing key: the root CA, the access-token key, or a department issuer key."""

    __tablename__ = "hub_keys"
    __table_args__ = (Index("ix_hub_keys_purpose_status", "purpose", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(16))  # root | token | document | issuer
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), default=None)
    subject_code: Mapped[str | None] = mapped_column(String(18), default=None)
    subject_name: Mapped[str | None] = mapped_column(String(200), default=None)
    private_key_pem: Mapped[bytes] = mapped_column(LargeBinary)  # PKCS#8, passphrase-encrypted
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired | compromised
    compromised_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
