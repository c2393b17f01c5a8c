"""Idempotency-Key for the catalogue's mutating calls: a retry returns what the first call created."""

from __future__ import annotations

import hashlib
from datetime import datetime
from collections.abc import Callable
from typing import Annotated, TypeVar

import orjson
from fastapi import Header
from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.core.db import Base, UTCDateTime
from hub.core.errors import Conflict

T = TypeVar("T")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


class IdempotencyConflict(Conflict):
    code, title = "idempotency_key_reused", "Idempotency-Key reused with a different request"


class IdempotentRequest(Base):
    """What a client's Idempotency-Key produced for one kind of call."""

    __tablename__ = "idempotent_requests"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def body_hash(body) -> str:
    """SHA-256 of a pydantic body's canonical JSON."""
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


def replayed(session: Session, *, client_id: str, key: str | None, operation: str, digest: str) -> str | None:
    """The id the first call with this key created, or None; the same key with another body is a 409."""
    if key is None:
        return None
    record = session.get(IdempotentRequest, (client_id, key, operation))
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
    return record.resource_id


def remember(session: Session, *, client_id: str, key: str | None, operation: str, digest: str, resource_id: str,
             now: datetime) -> None:
    """Note what this key created (in the same transaction as the creation)."""
    if key is None:
        return
    session.add(IdempotentRequest(client_id=client_id, key=key, operation=operation, request_hash=digest,
                                  resource_id=resource_id, created_at=now))
    try:
        session.flush()
    except IntegrityError:  # a concurrent call with the same key won; this one rolls back
        raise IdempotencyConflict("A concurrent request with this Idempotency-Key is being processed.") from None


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
