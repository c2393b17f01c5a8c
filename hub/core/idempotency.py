"""Idempotency-Key, the one mechanism of every creating call: a retry returns what the first call created.

A record is (client, key, operation) → the request's fingerprint and the id of what it created; the same key with
another request is a 409. Licenses (one or many at a time), batches, grants, consents and sources all keep their
records here, in the caller's transaction: the record commits or rolls back with what it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

import orjson
from fastapi import Header
from sqlalchemy import ARRAY, String, any_, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, UTCDateTime
from hub.core.errors import Conflict

T = TypeVar("T")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


class IdempotencyConflict(Conflict):
    code, title = "idempotency_key_reused", "Idempotency-Key reused with a different request"
    reused = "This Idempotency-Key was already used with a different request body."
    concurrent = "A request with this Idempotency-Key is already being processed."


class IdempotentRequest(Base):
    """What a client's Idempotency-Key produced for one kind of call."""

    __tablename__ = "idempotent_requests"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


_RECORDS = IdempotentRequest.__table__  # Core: the hot paths insert with one statement, not the unit of work


def body_hash(body) -> str:
    """SHA-256 of a pydantic body's canonical JSON: the fingerprint of a request."""
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


def replayed(session: Session, *, client_id: str, key: str | None, operation: str, digest: str,
             conflict: type[IdempotencyConflict] = IdempotencyConflict) -> str | None:
    """The id the first call with this key created, or None; the same key with another request is a 409."""
    if key is None:
        return None
    record = session.get(IdempotentRequest, (client_id, key, operation))
    if record is None:
        return None
    if record.request_hash != digest:
        raise conflict(conflict.reused)
    return record.resource_id


def replayed_many(session: Session, *, client_id: str, keys: Sequence[str],
                  operation: str) -> dict[str, tuple[str, str]]:
    """{key: (request fingerprint, resource id)} for the keys this client has used already for the operation."""
    found: dict[str, tuple[str, str]] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(keys), 500):
        some = list(keys[start:start + 500])
        # PostgreSQL: one array parameter; an IN list of 500 parameters costs 3x as much to send.
        wanted = _RECORDS.c.key == any_(literal(some, ARRAY(String))) if postgres else _RECORDS.c.key.in_(some)
        rows = session.execute(select(_RECORDS.c.key, _RECORDS.c.request_hash, _RECORDS.c.resource_id).where(
            _RECORDS.c.client_id == client_id, _RECORDS.c.operation == operation, wanted))
        found.update((key, (digest, resource_id)) for key, digest, resource_id in rows)
    return found


def remember(session: Session, *, client_id: str, key: str | None, operation: str, digest: str, resource_id: str,
             now: datetime, conflict: type[IdempotencyConflict] = IdempotencyConflict) -> None:
    """Note what this key created, in the same transaction as the creation (pending ORM changes are flushed first).

    ON CONFLICT DO NOTHING rather than a savepoint: a concurrent request with the same key that committed first
    (PostgreSQL waits for it) shows as no row inserted, and this one is a 409.
    """
    if key is None:
        return
    session.flush()
    insert_new = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(_RECORDS)
    inserted = session.execute(insert_new.values(client_id=client_id, key=key, operation=operation,
                                                 request_hash=digest, resource_id=resource_id, created_at=now)
                               .on_conflict_do_nothing().returning(_RECORDS.c.key)).first()
    if inserted is None:
        raise conflict(conflict.concurrent)


def remember_many(session: Session, records: Sequence[tuple[str, str, str]], *, client_id: str, operation: str,
                  now: datetime) -> None:
    """Note (key, request fingerprint, resource id) for many keys with one statement.

    A key another transaction committed meanwhile raises IntegrityError: the caller rolls back and decides each.
    """
    if records:
        session.execute(insert(_RECORDS), [
            {"client_id": client_id, "key": key, "operation": operation, "request_hash": digest,
             "resource_id": resource_id, "created_at": now} for key, digest, resource_id in records])


def create_once(session: Session, body, *, client_id: str, key: str | None, operation: str, now: datetime,
                create: Callable[[], T], load: Callable[[str], T]) -> tuple[T, bool]:
    """Create a resource unless this key already did; returns (resource, created). `create()` must give it an id."""
    digest = body_hash(body)
    known = replayed(session, client_id=client_id, key=key, operation=operation, digest=digest)
    if known is not None:
        return load(known), False
    made = create()
    remember(session, client_id=client_id, key=key, operation=operation, digest=digest, resource_id=made.id, now=now)
    return made, True
