"""The batch worker of the embedded default (SQLite), which procrastinate does not support.

The embedded default runs the same job function as procrastinate does, in a thread of the hub process (or of
the `hub worker` command). Jobs are claimed with a lease in
`batch_jobs.owner` ("host:pid:token"); a lease is taken over when its process is gone (same host:
SQLite lives on one machine) or its heartbeat is older than a minute. At start, and whenever woken
by a submission or every few seconds, the thread takes the oldest unfinished job it may claim.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from hub.batch.service import BatchContext, Interrupted, run_job
from hub.batch.tables import BatchJob
from hub.core.clock import system_clock

log = logging.getLogger("hub.batch")
STALE_LEASE = timedelta(seconds=60)


class ThreadWorker:
    """The SQLite worker: one thread taking leases on unfinished jobs and running them."""

    def __init__(self, ctx: BatchContext, wake: threading.Event, *, poll: float = 5.0, **_ignored) -> None:
        self.ctx, self.wake, self.poll = ctx, wake, poll
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="hub-batch-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_until_signalled(self) -> None:
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: (self._stop.set(), self.wake.set()))
        self.run()

    def run(self) -> None:
        while not self._stop.is_set():
            self.wake.clear()
            job_id = claim_job(self.ctx, self.owner)
            if job_id is None:
                self.wake.wait(self.poll)
                continue
            try:
                run_job(self.ctx, job_id, should_stop=self._stop.is_set)
            except Interrupted:
                break
            except Exception:  # noqa: BLE001 - transient: keep the lease and try again shortly
                log.exception("batch %s stopped on an error; retrying", job_id)
                self._stop.wait(self.poll)
        release_leases(self.ctx, self.owner)


def claim_job(ctx: BatchContext, owner: str) -> str | None:
    """Take the lease of the oldest unfinished job that is free, ours, or held by a dead worker."""
    now = system_clock()
    with ctx.session_factory() as session:
        candidates = session.execute(
            select(BatchJob.id, BatchJob.owner, BatchJob.heartbeat_at)
            .where(BatchJob.status.in_(("queued", "running"))).order_by(BatchJob.created_at)).all()
        for job_id, holder, heartbeat in candidates:
            stale = heartbeat is None or heartbeat < now - STALE_LEASE
            if holder not in (None, owner) and not _gone(holder) and not stale:
                continue
            same_holder = BatchJob.owner.is_(None) if holder is None else BatchJob.owner == holder
            taken = session.execute(update(BatchJob).where(BatchJob.id == job_id, same_holder)
                                    .values(owner=owner, heartbeat_at=now))
            session.commit()
            if taken.rowcount == 1:
                if holder not in (None, owner):
                    log.warning("took over batch %s from %s", job_id, holder)
                return job_id
    return None


def release_leases(ctx: BatchContext, owner: str) -> None:
    with ctx.session_factory.begin() as session:
        session.execute(update(BatchJob).where(BatchJob.owner == owner).values(owner=None))


def _gone(holder: str) -> bool:
    """Tell whether the process holding a lease has died (only decidable on this host)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
