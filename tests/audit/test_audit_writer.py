"""The group-commit audit writer: many concurrent appends share transactions; a guard or the database can refuse."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from hub.audit.entries import AuditEvent, entry_row
from hub.audit.tables import AuditEntry
from hub.audit.writer import AuditUnavailable, AuditWriter
from hub.core.db import make_engine, make_session_factory
from hub.core.errors import Forbidden
from hub.migrations import upgrade

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)
PEPPER = b"p" * 32


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _row(n: int) -> dict:
    return entry_row(AuditEvent(kind="test.append", actor="writer-test", subject="110105199001010010",
                                data={"n": n}), NOW, PEPPER)


def _stored(factory) -> list[int]:
    with factory() as session:
        return sorted(int(text.split(":")[1].rstrip("}")) for text in
                      session.scalars(sa.select(AuditEntry.data).where(AuditEntry.kind == "test.append")))


def test_concurrent_appends_commit_together_and_each_caller_hears_back(factory):
    writer = AuditWriter(factory)

    async def append_all() -> None:
        await asyncio.gather(*(writer.commit([_row(n)]) for n in range(300)))

    try:
        asyncio.run(append_all())
    finally:
        writer.stop()
    assert _stored(factory) == list(range(300))
    assert writer.appended == 300 and writer.rounds < 300  # rounds were shared: group commit


def test_a_guard_refusal_fails_that_append_only(factory):
    writer = AuditWriter(factory)

    def refuse(session) -> None:
        raise Forbidden("the grant changed")

    async def append_some() -> list:
        return await asyncio.gather(writer.commit([_row(1)]), writer.commit([_row(2)], guard=refuse),
                                    writer.commit([_row(3)]), return_exceptions=True)

    try:
        outcomes = asyncio.run(append_some())
    finally:
        writer.stop()
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Forbidden)
    assert _stored(factory) == [1, 3]


def test_a_database_that_cannot_take_the_entries_is_a_503_and_nothing_is_half_written(factory):
    with factory.begin() as session:  # a broken database: the log's table is gone
        session.execute(sa.text("ALTER TABLE audit_entries RENAME TO audit_entries_gone"))
    writer = AuditWriter(factory)
    try:
        with pytest.raises(AuditUnavailable) as refused:
            asyncio.run(writer.commit([_row(1)]))
        assert refused.value.status == 503
        with factory.begin() as session:
            session.execute(sa.text("ALTER TABLE audit_entries_gone RENAME TO audit_entries"))
        asyncio.run(writer.commit([_row(2)]))  # the writer outlives a failed round
    finally:
        writer.stop()
    assert _stored(factory) == [2]
