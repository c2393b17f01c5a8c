"""Consents citizens give to a department to read their sensitive data from one source, for one purpose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class Consent(Base):
    """A consent request and the citizen's decision. The subject is kept only as a keyed hash and a masked form."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    subject_ref: Mapped[str] = mapped_column(String(64), index=True)
    subject_masked: Mapped[str] = mapped_column(String(32))
    requester_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    fields: Mapped[list] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected | revoked
    valid_days: Mapped[int]
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # set on approval
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
