"""Batch jobs and their per-row results."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime, new_id


class BatchJob(Base):
    """One submitted batch file: who sent it, where the file is, how far issuance got."""

    __tablename__ = "batch_jobs"
    __table_args__ = (Index("ix_batch_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    input_key: Mapped[str] = mapped_column(String(255))
    input_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, completed, failed
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)  # of done: newly issued (the rest already existed)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)  # why the whole job failed, if it did
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Lease of the SQLite thread worker ("host:pid:token"); procrastinate tracks its own workers.
    owner: Mapped[str | None] = mapped_column(String(128), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class BatchRow(Base):
    """The outcome of one row of a batch file, written in the same transaction as its license."""

    __tablename__ = "batch_rows"
    __table_args__ = (Index("ix_batch_rows_job_status", "job_id", "status"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("batch_jobs.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str | None] = mapped_column(String(128), default=None)
    status: Mapped[str] = mapped_column(String(16))  # issued, existing, failed
    license_identifier: Mapped[str | None] = mapped_column(String(96), default=None)
    code: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    errors: Mapped[list | None] = mapped_column(JSON, default=None)
