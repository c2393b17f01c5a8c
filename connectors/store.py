"""The shared table that holds imported (归集) records, one row per source and subject, and its reader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Health, SourceUnavailable, pick

metadata = sa.MetaData()

# The hub's Alembic migration creates this same table; keep the two identical.
shared_records = sa.Table(
    "shared_records",
    metadata,
    sa.Column("source_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("source_id", "subject", name="pk_shared_records"),
)


def create_store_table(engine: sa.Engine) -> None:
    """Create shared_records if it does not exist (tests and standalone use; the hub migrates)."""
    metadata.create_all(engine, tables=[shared_records])


class SharedStoreConnector:
    """The "bulk" connector: answer from the records imported into shared_records for one source."""

    def __init__(self, engine: sa.Engine, source_id: str) -> None:
        self.engine = engine
        self.source_id = source_id
        self._record = sa.select(shared_records.c.data).where(
            shared_records.c.source_id == source_id, shared_records.c.subject == sa.bindparam("subject"))
        self._count = sa.select(sa.func.count()).select_from(shared_records).where(
            shared_records.c.source_id == source_id)

    async def fetch(self, subject: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """Return the requested fields of the subject's imported record, or None."""
        data = await asyncio.to_thread(self._read, self._record, {"subject": subject})
        return None if data is None else pick(data, fields)

    def _read(self, statement: sa.Select, params: dict[str, Any]) -> Any:
        try:
            with self.engine.connect() as connection:
                return connection.execute(statement, params).scalar()
        except SQLAlchemyError as exc:
            raise SourceUnavailable(f"the shared store cannot be read ({type(exc).__name__})") from None

    async def health(self) -> Health:
        """Count the source's imported records; never raises."""
        started = time.perf_counter()
        try:
            count = await asyncio.to_thread(self._read, self._count, {})
        except SourceUnavailable as exc:
            return Health(False, exc.reason, _ms(started), exc)
        return Health(True, f"{count} records imported", _ms(started))

    async def aclose(self) -> None:
        """Nothing to release: the engine belongs to the caller."""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
