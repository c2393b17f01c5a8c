"""Run batch jobs: procrastinate on PostgreSQL, an in-process thread on SQLite (hub.batch.thread_worker).

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

procrastinate does not support SQLite, so the embedded default runs the same job function in a thread
(hub.batch.thread_worker).

Why a job killed anywhere ends with every row issued once and no orphan object: see `hub.batch.service`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading

import procrastinate
import psycopg
from procrastinate.jobs import Status
from procrastinate.exceptions import AlreadyEnqueued, JobAborted, ProcrastinateException
from procrastinate.schema import SchemaManager
from procrastinate.worker import Worker
from sqlalchemy.engine import make_url

from hub.batch.service import TRANSIENT, BatchContext, Interrupted, run_job, unfinished_job_ids
from hub.batch.thread_worker import ThreadWorker

log = logging.getLogger("hub.batch")
TASK_NAME = "hub.batch.issue"
QUEUE = "batch"
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
