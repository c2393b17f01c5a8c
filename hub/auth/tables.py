"""OAuth2 clients, and replay protection for their assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime


class UsedAssertion(Base):
    """A private_key_jwt assertion already spent (client id + jti), kept until it expires."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OAuthClient(Base):
    """A machine client; the secret is stored only as a hash."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # operator | department
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), default=None)
    scopes: Mapped[str] = mapped_column(Text)
    jwks: Mapped[str | None] = mapped_column(Text, default=None)  # public keys for private_key_jwt
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
