"""The catalogue's data sources, the grants to read them, and the registry generation their changes bump."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, event, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, UTCDateTime, new_id
from hub.egress.tables import EgressRule


class Source(Base):
    """A data source (数据资源) in the catalogue: its fields, sharing class and connector."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    subject_key: Mapped[str] = mapped_column(String(16))
    sharing_class: Mapped[str] = mapped_column(String(16))
    update_frequency: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list] = mapped_column(JSON)
    connector_type: Mapped[str] = mapped_column(String(16))
    connector_config: Mapped[dict] = mapped_column(JSON)
    health: Mapped[str] = mapped_column(String(16), default="unknown")  # ok | down | unknown
    health_detail: Mapped[str] = mapped_column(String(300), default="")
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """Permission for a department to read some fields of a source, for a stated purpose."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_requester_source", "requester_id", "source_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    fields: Mapped[list] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected | revoked
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RegistryState(Base):
    """One row: the registry's generation, bumped by every transaction that changes a source, grant or egress rule.

    Workers cache what a department may read of a source under the generation they read it at; the query's
    audit write compares generations in its own transaction, so a revoked grant stops working at once.
    """

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


_BUMP = update(RegistryState).where(RegistryState.id == 1).values(generation=RegistryState.generation + 1)


@event.listens_for(Session, "after_flush")
def _bump_generation(session: Session, _context) -> None:
    """Bump the generation once per flush that inserts, changes or deletes a source, a grant or an egress rule.

    A flush hook, next to the tables, so no code path that writes them can forget it; the bump is part of the
    writing transaction and becomes visible when that commits.
    """
    touched = (obj for group in (session.new, session.dirty, session.deleted) for obj in group)
    if any(isinstance(obj, (Source, Grant, EgressRule)) for obj in touched):
        session.connection().execute(_BUMP)
