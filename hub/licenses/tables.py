"""Issued licenses, their events and serial counters (idempotency records: hub.core.idempotency)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class License(Base):
    """One issued, signed e-license."""

    __tablename__ = "licenses"
    __table_args__ = (
        Index("ix_licenses_issuer_type", "issuer_department_id", "type_code"),
        Index("ix_licenses_holder", "holder_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    identifier: Mapped[str] = mapped_column(String(96), unique=True)
    type_code: Mapped[str] = mapped_column(String(21))
    issuer_department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    issuer_code: Mapped[str] = mapped_column(String(18))
    serial: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    holder_id_type: Mapped[str] = mapped_column(String(16))
    holder_id: Mapped[str] = mapped_column(String(18))
    holder_name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended | revoked
    status_list_no: Mapped[int | None] = mapped_column(Integer, default=None)
    status_index: Mapped[int | None] = mapped_column(Integer, default=None)
    superseded_by: Mapped[str | None] = mapped_column(String(96), default=None)
    kid: Mapped[str] = mapped_column(String(64))
    qr_text: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SerialCounter(Base):
    """The last serial handed out per issuer, license type and year."""

    __tablename__ = "serial_counters"

    issuer_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(21), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class LicenseEvent(Base):
    """One change in a license's life: who did what, when and why."""

    __tablename__ = "license_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # gives the order
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # issued | suspended | reinstated | revoked | reissued
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    related: Mapped[str | None] = mapped_column(String(96), default=None)  # the other version, for reissues
