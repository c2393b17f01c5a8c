"""Group commit for hot paths: the audit entries of concurrent requests are appended in one transaction.

The engine behind `hub.audit.sink.GroupCommitSink`. A request hands its prepared rows (and optionally a guard) to
the writer thread and awaits the commit, so its
answer can cite a durable entry. While one transaction commits, the next requests queue up and share the next
one: under load a commit serves dozens of requests, and the event loop never waits on the database itself.

A guard runs inside the writing transaction before the rows are inserted; if it raises a HubError, that request
fails with it and its rows are not written (e.g. the exchange re-checks a grant that changed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.tables import AuditEntry
from hub.core.errors import HubError

log = logging.getLogger("hub.audit")
MAX_BATCH = 500
Guard = Callable[[Session], None]


class AuditUnavailable(HubError):
    status, code, title = 503, "audit_unavailable", "The audit log cannot be written right now"


@dataclass
class _Item:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    rows: list[dict]
    guard: Guard | None
    error: BaseException | None = field(default=None)


class AuditWriter:
    """One per worker: a thread that appends queued rows, a transaction per round."""

    def __init__(self, session_factory: sessionmaker[Session], *, max_batch: int = MAX_BATCH) -> None:
        self._factory, self._max_batch = session_factory, max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.rounds = self.appended = 0

    async def commit(self, rows: list[dict], *, guard: Guard | None = None) -> None:
        """Append rows prepared by `entry_row` once their guard (if any) passes; return when they have committed."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        item = _Item(loop, loop.create_future(), rows, guard)
        self._queue.put(item)
        await item.future

    def start(self) -> None:
        self._ensure_started()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch = [] if first is None else [first]
            stopping = first is None
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    continue
                batch.append(item)
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        try:
            with self._factory.begin() as session:
                for item in batch:
                    if item.guard is not None:
                        try:
                            item.guard(session)
                        except HubError as refused:
                            item.error = refused
                rows = [row for item in batch if item.error is None for row in item.rows]
                if rows:
                    session.execute(insert(AuditEntry.__table__), rows)
            self.rounds, self.appended = self.rounds + 1, self.appended + len(rows)
        except SQLAlchemyError:
            log.exception("could not append %d audit entries", len(batch))
            for item in batch:
                item.error = item.error or AuditUnavailable("The audit log could not be written; nothing was "
                                                             "answered. Retry shortly.")
        except BaseException as unexpected:  # noqa: BLE001 - every waiting request must hear back
            log.exception("audit writer round failed")
            for item in batch:
                item.error = item.error or unexpected
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            by_loop.setdefault(item.loop, []).append(item)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                pass


def _settle(items: list[_Item]) -> None:
    for item in items:
        if item.future.done():  # the request was cancelled (client gone); its row is written all the same
            continue
        if item.error is None:
            item.future.set_result(None)
        else:
            item.future.set_exception(item.error)
