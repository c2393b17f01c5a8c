"""Run batch jobs: procrastinate on PostgreSQL, an in-process thread on SQLite.

On PostgreSQL the hub uses procrastinate, an existing PostgreSQL-backed job queue, rather than a
queue of its own. A job is `hub.batch.issue(job_id=...)` on the `batch` queue, deferred after the
submitting transaction commits, with `lock` and `queueing_lock` set to `batch-{job_id}` so two
workers never run one batch at once and a re-deferral is a no-op. procrastinate's schema is applied
by its own schema manager (not by Alembic) when a process first needs it, under an advisory lock,
only if `procrastinate_jobs` is missing. Survival of `kill -9`: workers send heartbeats; every worker
checks every few seconds for jobs whose worker stopped heartbeating (`JobManager.get_stalled_jobs`)
and puts them back with `JobManager.retry_job`; it also re-defers any unfinished batch that has no
queued or running procrastinate job (a crash between the commit and the deferral). A graceful stop
aborts the running job at a row boundary (`JobAborted`), and the retry strategy puts it back.

procrastinate does not support SQLite, so the embedded default runs the same job function in a
thread of the hub process (or of the `hub worker` command). Jobs are claimed with a lease in
`batch_jobs.owner` ("host:pid:token"); a lease is taken over when its process is gone (same host:
SQLite lives on one machine) or its heartbeat is older than a minute. At start, and whenever woken
by a submission or every few seconds, the thread takes the oldest unfinished job it may claim.

Why a job killed anywhere ends with every row issued once and no orphan object: see `hub.batch.service`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

import procrastinate
import psycopg
from procrastinate.jobs import Status
from procrastinate.exceptions import AlreadyEnqueued, JobAborted, ProcrastinateException
from procrastinate.schema import SchemaManager
from procrastinate.worker import Worker
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from hub.batch.service import TRANSIENT, BatchContext, Interrupted, run_job, unfinished_job_ids
from hub.batch.tables import BatchJob
from hub.core.clock import system_clock

log = logging.getLogger("hub.batch")
TASK_NAME = "hub.batch.issue"
QUEUE = "batch"
STALE_LEASE = timedelta(seconds=60)
_SCHEMA_LOCK = 0x6875625F62617463  # "hub_batc": serialises procrastinate schema creation


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def conninfo(database_url: str) -> str:
    """Turn a SQLAlchemy URL into a libpq connection string for procrastinate."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_queue_schema(database_url: str) -> None:
    """Apply procrastinate's schema once (idempotent; safe when several processes start together)."""
    with psycopg.connect(conninfo(database_url)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0] is None:
            conn.execute(SchemaManager.get_schema())  # no parameters: sent as is
            log.info("applied the procrastinate schema")


def _issue_batch_task(context: procrastinate.JobContext, job_id: str) -> None:
    ctx: BatchContext = context.additional_context["hub"]
    try:
        run_job(ctx, job_id, should_stop=context.should_abort)
    except Interrupted as exc:
        raise JobAborted(f"batch {job_id} interrupted by a worker shutdown") from exc


def make_queue_app(connector) -> procrastinate.App:
    """A procrastinate App with the batch task registered (no I/O)."""
    app = procrastinate.App(connector=connector)
    retry = procrastinate.RetryStrategy(max_attempts=50, linear_wait=2, retry_exceptions=[JobAborted, *TRANSIENT])
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True, retry=retry)(_issue_batch_task)
    return app


def _defer_options(job_id: str) -> dict:
    return {"lock": f"batch-{job_id}", "queueing_lock": f"batch-{job_id}"}


class BatchRuntime:
    """One process's side of batch jobs: how to enqueue them, and the worker if this process runs one."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.postgres = is_postgres(database_url)
        self.wake = threading.Event()  # SQLite: tells the thread worker a job is waiting
        self._deferrer: procrastinate.App | None = None
        self._lock = threading.Lock()
        self.worker: ThreadWorker | PostgresWorker | None = None

    def enqueue(self, job_id: str) -> None:
        """Hand a committed job to the workers; on failure the workers' reconciliation picks it up."""
        if not self.postgres:
            self.wake.set()
            return
        try:
            self._queue_app().configure_task(TASK_NAME, **_defer_options(job_id)).defer(job_id=job_id)
        except AlreadyEnqueued:
            pass
        except (ProcrastinateException, psycopg.Error):
            log.exception("could not defer batch %s; a worker will pick it up when it reconciles", job_id)

    def _queue_app(self) -> procrastinate.App:
        with self._lock:
            if self._deferrer is None:
                ensure_queue_schema(self.database_url)
                app = make_queue_app(procrastinate.SyncPsycopgConnector(conninfo=conninfo(self.database_url),
                                                                        min_size=1, max_size=4))
                app.open()
                self._deferrer = app
            return self._deferrer

    def start(self, ctx: BatchContext, *, worker: bool = True, **options) -> None:
        """At app start: create procrastinate's schema if missing (PostgreSQL); start this process's worker."""
        if self.postgres:
            ensure_queue_schema(self.database_url)
        if worker:
            self.start_worker(ctx, **options)

    def start_worker(self, ctx: BatchContext, **options) -> None:
        """Start a worker thread in this process (procrastinate's on PostgreSQL, the lease loop on SQLite)."""
        self.worker = (PostgresWorker(ctx, self.database_url, **options) if self.postgres
                       else ThreadWorker(ctx, self.wake, **options))
        self.worker.start()

    def run_worker(self, ctx: BatchContext, **options) -> None:
        """Run a worker in the foreground until SIGINT or SIGTERM (the `hub worker` command)."""
        if self.postgres:
            asyncio.run(PostgresWorker(ctx, self.database_url, **options).run(install_signal_handlers=True))
        else:
            ThreadWorker(ctx, self.wake, **options).run_until_signalled()

    def stop(self) -> None:
        """Stop the worker (the running job resumes later at its first unfinished row) and close the queue."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        with self._lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None


class PostgresWorker:
    """A procrastinate worker for the batch queue, plus the stalled-job and reconciliation loop."""

    def __init__(self, ctx: BatchContext, database_url: str, *, heartbeat: float = 10.0,
                 stalled_after: float = 30.0, poll: float = 5.0) -> None:
        self.ctx, self.database_url = ctx, database_url
        self.heartbeat, self.stalled_after, self.poll = heartbeat, stalled_after, poll
        self._worker: Worker | None = None
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self.run()), name="hub-batch-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_requested.set()
        if self._worker is not None:
            self._worker.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    async def run(self, *, install_signal_handlers: bool = False) -> None:
        await asyncio.to_thread(ensure_queue_schema, self.database_url)
        app = make_queue_app(procrastinate.PsycopgConnector(conninfo=conninfo(self.database_url),
                                                            min_size=1, max_size=4))
        async with app.open_async():
            self._worker = Worker(
                app, queues=[QUEUE], name=f"hub-batch-{socket.gethostname()}-{os.getpid()}",
                additional_context={"hub": self.ctx}, install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=self.heartbeat, stalled_worker_timeout=self.stalled_after,
                shutdown_graceful_timeout=1.0, fetch_job_polling_interval=self.poll)
            keeper = asyncio.create_task(self._keep(app))
            if self._stop_requested.is_set():
                self._worker.stop()
            try:
                await self._worker.run()
            finally:
                keeper.cancel()

    async def _keep(self, app: procrastinate.App) -> None:
        """Put back the jobs of dead workers and re-defer batches that lost their queue job."""
        while True:
            try:
                for job in await app.job_manager.get_stalled_jobs(
                        queue=QUEUE, task_name=TASK_NAME, seconds_since_heartbeat=self.stalled_after):
                    log.warning("retrying batch queue job %s: its worker stopped sending heartbeats", job.id)
                    await app.job_manager.retry_job(job)
                await self._reconcile(app)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
                log.exception("batch queue upkeep failed; trying again")
            await asyncio.sleep(max(1.0, self.stalled_after / 3))

    async def _reconcile(self, app: procrastinate.App) -> None:
        for job_id in await asyncio.to_thread(unfinished_job_ids, self.ctx.session_factory):
            jobs = await app.job_manager.list_jobs_async(task=TASK_NAME, lock=f"batch-{job_id}")
            if not any(Status(job.status) in (Status.TODO, Status.DOING) for job in jobs):
                try:
                    await app.configure_task(TASK_NAME, **_defer_options(job_id)).defer_async(job_id=job_id)
                    log.warning("re-deferred batch %s, which had no queue job", job_id)
                except AlreadyEnqueued:
                    pass


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
