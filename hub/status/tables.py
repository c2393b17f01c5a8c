"""Status lists (W3C Bitstring Status List) and the entries handed out in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime


class StatusList(Base):
    """One issuer's list for one purpose; list number n of an issuer has a revocation and a suspension list."""

    __tablename__ = "status_lists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # {issuer code}-{list no}-{purpose}
    issuer_department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    list_no: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatusEntry(Base):
    """An index taken in an issuer's list pair; the primary key makes a double allocation impossible."""

    __tablename__ = "status_entries"

    issuer_department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    list_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[str] = mapped_column(String(32), unique=True)
