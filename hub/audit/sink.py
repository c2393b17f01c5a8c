"""The one way to append to the audit log: `sink.append(events, now=...)` returns the entries' refs.

Every entry is prepared the same way (`entry_row`: its id and leaf hash at once, so a receipt can cite it); the
sinks differ only in when the entry becomes durable, and wiring chooses one:

- `TransactionSink`: inside the caller's transaction; the entry commits or rolls back with the change it records.
- `GroupCommitSink`: for hot paths on the event loop; the entries of concurrent requests share one transaction of
  the `AuditWriter` thread, and `append` is awaited until they have committed (a guard may refuse first).
- `QueuedSink`: for hot paths whose answer does not cite the entry (POST /verify); appended by the sequencer
  thread within its interval, not transactional with anything.

The pepper that hides subjects is derived here (`audit_pepper`), once per process by `session_info`, and read from
the sessions (`session_pepper`, `pepper_of`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.driver import insert_entries
from hub.audit.entries import AuditEvent, AuditRef, entry_row, row_ref
from hub.audit.tables import AuditEntry
from hub.audit.writer import AuditWriter, Guard
from hub.core.session_info import factory_item, session_item

log = logging.getLogger("hub.audit")
AUDIT_PEPPER = "audit_pepper"  # key of the pepper in Session.info (create_app puts it in every session)
MAX_QUEUED = 50_000


class AuditSink(Protocol):
    """Where audit entries go; `append` returns their refs (GroupCommitSink's is the same call, awaited)."""

    def append(self, events: Sequence[AuditEvent], *, now: datetime) -> list[AuditRef]: ...


def audit_pepper(passphrase: bytes) -> bytes:
    """Derive the key that hides subjects in the log (HKDF-SHA256 of the hub key passphrase)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hub-audit-pepper/1", info=b"subject_ref").derive(
        passphrase)


def session_info(passphrase: bytes) -> dict:
    """What every session of a hub process carries for the audit log: give it to make_session_factory."""
    return {AUDIT_PEPPER: audit_pepper(passphrase)}


def session_pepper(session: Session) -> bytes:
    """The pepper this session's hub hides subjects with (set by create_app on its session factory)."""
    return session_item(session, AUDIT_PEPPER, "build it from create_app's session factory")


def pepper_of(session_factory: sessionmaker[Session]) -> bytes:
    """The pepper the sessions of a factory carry (see session_info)."""
    return factory_item(session_factory, AUDIT_PEPPER, "give it session_info(passphrase)")


class TransactionSink(AuditSink):
    """Appends in the caller's transaction (one INSERT for all the events)."""

    def __init__(self, session: Session, pepper: bytes | None = None) -> None:
        self.session, self.pepper = session, pepper if pepper is not None else session_pepper(session)

    def append(self, events: Sequence[AuditEvent], *, now: datetime) -> list[AuditRef]:
        rows = [entry_row(event, now, self.pepper) for event in events]
        if rows:
            self.session.execute(insert(AuditEntry.__table__), rows)  # Core: a third cheaper than the ORM bulk path
        return [row_ref(row) for row in rows]


class GroupCommitSink:
    """Appends through the worker's AuditWriter thread; `await append(...)` returns once the entries committed."""

    def __init__(self, writer: AuditWriter, pepper: bytes) -> None:
        self.writer, self.pepper = writer, pepper

    async def append(self, events: Sequence[AuditEvent], *, now: datetime,
                     guard: Guard | None = None) -> list[AuditRef]:
        """Append once the guard (if any) passes inside the writing transaction; its HubError refuses them all."""
        rows = [entry_row(event, now, self.pepper) for event in events]
        await self.writer.commit(rows, guard=guard)
        return [row_ref(row) for row in rows]


class QueuedSink(AuditSink):
    """Holds entries for the sequencer thread, which appends them (`flush`) every interval.

    A crash loses at most one interval of them; past MAX_QUEUED waiting, the oldest are dropped (and counted).
    """

    def __init__(self, session_factory: sessionmaker[Session], *, max_queued: int = MAX_QUEUED) -> None:
        self._factory, self.pepper = session_factory, pepper_of(session_factory)
        self._rows: deque[dict] = deque(maxlen=max_queued)
        self._flush_lock = threading.Lock()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, events: Sequence[AuditEvent], *, now: datetime) -> list[AuditRef]:
        rows = [entry_row(event, now, self.pepper) for event in events]
        for row in rows:
            if len(self._rows) == self._rows.maxlen:
                self.dropped += 1
                log.warning("audit queue full: %d queued entries dropped so far", self.dropped)
            self._rows.append(row)
        return [row_ref(row) for row in rows]

    def flush(self) -> int:
        """Append the queued entries in one transaction; return how many.

        One flush at a time: a caller that finds the queue just emptied by the sequencer thread's flush waits
        for that flush to commit, so every entry queued before the call is in the log when it returns.
        """
        with self._flush_lock:
            rows = []
            while self._rows:
                rows.append(self._rows.popleft())
            if rows:
                with self._factory.begin() as session:
                    insert_entries(session, rows)
            return len(rows)
