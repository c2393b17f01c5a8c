"""The egress rules: connector targets the operator approved, one department at a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class EgressRule(Base):
    """A target the operator approved for one department's connectors (scheme, host, port; database or file)."""

    __tablename__ = "egress_rules"
    __table_args__ = (UniqueConstraint("department_id", "target", name="uq_egress_rules_department_target"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    target: Mapped[str] = mapped_column(String(1100))  # canonical, as connectors.Target prints it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
