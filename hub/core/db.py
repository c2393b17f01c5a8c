"""Database engine, declarative base and the one-transaction-per-request session."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from hub.core.caches import CACHES, Caches
from hub.core.session_info import session_item
from hub.core.wiring import services

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as UTC; SQLite drops the zone, so put it back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def new_id() -> str:
    """Return a random opaque identifier for a row."""
    return uuid.uuid4().hex


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


COUNTERS = "counter_pool"  # key, in Session.info, of the factory's CounterPool (see at_once)


def make_session_factory(engine: Engine, *, info: dict | None = None) -> sessionmaker[Session]:
    """Sessions for the engine; `info` is copied into every session's `Session.info` (e.g. the audit pepper),
    with the factory's own counter pool and caches (hub.core.caches)."""
    own = {COUNTERS: CounterPool(engine), CACHES: Caches()}
    return sessionmaker(engine, expire_on_commit=False, info=own | (info or {}))


def counts_at_once(session: Session) -> bool:
    """Whether counters the session's transaction needs are bumped by statements of their own (PostgreSQL).

    A counter row many requests bump (a serial, a list's fill) stays locked from its UPDATE until the
    transaction commits: every other request for it waits that long, and under load the holder's
    transaction is slow (its thread shares the GIL with the others). Bumped in a statement that
    commits by itself, the row is locked only while PostgreSQL runs that statement. SQLite has one
    writer at a time anyway, and a second connection would wait for the session's own write lock.
    """
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def at_once(session: Session) -> Iterator[Connection]:
    """A connection beside the session's whose every statement commits at once (see counts_at_once).

    It comes from a pool of its own: a request takes it while holding the session's connection, so
    from one shared pool, enough concurrent requests would each hold one connection and wait forever
    for a second. A counter connection is held for one statement and waits for nothing else.
    """
    pool = session_item(session, COUNTERS, "build its factory with make_session_factory")
    with pool.engine().connect() as connection:
        yield connection


class CounterPool:
    """The AUTOCOMMIT connections of one session factory's counters, opened at first use, disposed with the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine, self._lock, self._counters = engine, threading.Lock(), None

    def engine(self) -> Engine:
        """The counters' engine (at most 16 connections)."""
        with self._lock:
            if self._counters is None:
                counters = self._counters = create_engine(
                    self._engine.url, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=12, pool_pre_ping=True)
                event.listen(self._engine, "engine_disposed", lambda _engine: counters.dispose())
            return self._counters


def get_session(request: Request) -> Iterator[Session]:
    """Yield the request's session: commit when the handler returns, roll back when it raises."""
    with services(request).session_factory() as session, transaction(session):
        yield session


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """A request's transaction: commit when the block ends, roll back (and delete the objects it
    wrote) when it raises; after the commit, run the callbacks registered with after_commit."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        discard_written_objects(session)
        raise
    session.info.pop("written_objects", None)
    for callback in session.info.pop("after_commit", []):
        callback()


def after_commit(session: Session, callback) -> None:
    """Run a callback once the request's transaction has committed (e.g. drop a cache)."""
    session.info.setdefault("after_commit", []).append(callback)


def discard_written_objects(session: Session) -> None:
    """Delete the objects a rolled-back transaction wrote, so none is left without its row."""
    for store, key in session.info.pop("written_objects", []):
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 - best effort; the original error matters more
            logging.getLogger("hub.db").warning("could not delete orphan object %s", key)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
