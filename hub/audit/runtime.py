"""The audit log of one running hub: its pepper, its root-key signer, its queued sink and the sequencer thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.heads import TreeHead, TreeHeadSigner
from hub.audit.sequencer import BATCH_SIZE, has_pending, sequence
from hub.audit.sink import QueuedSink, pepper_of
from hub.audit.store import LogCorrupted
from hub.core.clock import Clock

log = logging.getLogger("hub.audit")
DepartmentCode = Callable[[Session, str], "str | None"]  # department id -> its code


class AuditLog:
    """Shared by the requests of one worker; every worker runs a sequencer, the lock lets one work at a time."""

    def __init__(self, session_factory: sessionmaker[Session], *, passphrase: bytes, clock: Clock,
                 interval: float = 1.0, department_code: DepartmentCode | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.queue = QueuedSink(session_factory)  # POST /verify's entries: appended by the sequencer thread
        self.pepper = pepper_of(session_factory)
        self.department_code = department_code
        self._factory, self._passphrase, self._clock = session_factory, passphrase, clock
        self._interval, self._batch_size = interval, batch_size
        self._signer: TreeHeadSigner | None = None
        self._signer_lock = threading.Lock()
        self._has_head = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def signer(self) -> TreeHeadSigner:
        """Return the tree head signer, decrypting the root key on first use."""
        with self._signer_lock:
            if self._signer is None:
                with self._factory() as session:
                    self._signer = TreeHeadSigner.load(session, self._passphrase)
            return self._signer

    def sequence(self) -> TreeHead | None:
        """Sequence every committed pending entry now; return the new head, if any."""
        head = sequence(self._factory, signer=self.signer(), now=self._clock(), batch_size=self._batch_size)
        self._has_head = True
        return head

    def refresh(self) -> None:
        """Sequence what is pending, so a read answers with every committed entry; a failure is logged, not raised."""
        try:
            if self._has_head:
                with self._factory() as session:
                    if not has_pending(session):
                        return
            self.sequence()
        except (SQLAlchemyError, LogCorrupted):
            log.exception("audit sequencing failed; answering from the last signed tree head")

    def start(self) -> None:
        """Run the sequencer every `interval` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, letting a running batch finish, and append what is still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.queue.flush()
        except SQLAlchemyError:
            log.exception("could not append %d queued audit entries at shutdown", len(self.queue))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.queue.flush()
                self.refresh()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad round (e.g. the key not loadable)
                log.exception("audit sequencer round failed")
