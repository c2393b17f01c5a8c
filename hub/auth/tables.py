"""Replay protection for client assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime


class UsedAssertion(Base):
    """A private_key_jwt assertion already spent (client id + jti), kept until it expires."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
