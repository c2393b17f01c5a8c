"""Departments and their OAuth2 clients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class Department(Base):
    """A member of the hub: issuer of licenses, owner of data sources."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(18), unique=True)  # unified social credit code
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
