"""Render the PAdES-signed PDFs of licenses in worker processes.

Rendering is pure CPU in Python (~9 ms a license with its PAdES signature) and holds the GIL: in the
API process it would keep one core busy and leave the other idle, and stall every other request meanwhile. A pool of
worker processes, one per core, renders instead; the request's thread waits for its result without
holding the GIL. The pool is shared by the whole process; its workers start on first use (forked
from a clean forkserver process with the rendering modules imported) and stop at exit.

A job carries everything rendering needs, the issuer's PDF signing key included (as PKCS#8 DER):
it never leaves the machine, it only crosses a pipe to a child of this process.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import multiprocessing
import os
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from hub.licenses.printing.pdf import LicensePdf, render_license_pdf, warm_up
from hub.trust.pades import sign_pdf

log = logging.getLogger("hub.licenses")
WORKERS_ENV = "HUB_RENDER_WORKERS"  # 0: render in the calling thread


@dataclass(frozen=True)
class RenderJob:
    """One license's printable page to render, and how to sign it."""

    page: LicensePdf
    key_pkcs8: bytes
    certificate_der: bytes
    chain_der: tuple[bytes, ...]
    reason: str
    location: str
    signer_name: str


def render_job(job: RenderJob) -> bytes:
    """Render and sign (PAdES) one license's PDF, in a worker process or here."""
    return sign_pdf(render_license_pdf(job.page), private_key=_key(job.key_pkcs8),
                    certificate_der=job.certificate_der, chain_der=list(job.chain_der), reason=job.reason,
                    location=job.location, signer_name=job.signer_name)


_MAX_KEYS = 64
_keys: dict[bytes, object] = {}  # a rendering process's own: jobs bring their key, loaded once per process


def _key(pkcs8: bytes):
    digest = hashlib.sha256(pkcs8).digest()
    key = _keys.get(digest)
    if key is None:
        if len(_keys) >= _MAX_KEYS:
            _keys.clear()
        key = _keys[digest] = serialization.load_der_private_key(pkcs8, password=None)
    return key


class RenderPool:
    """The process's rendering workers; `render` blocks until the job is done.

    Each worker is a process with a pipe; a caller takes an idle worker, sends the job and waits for
    the answer on that pipe. No manager or feeder threads (as in ProcessPoolExecutor): the pickling
    and the wait happen in the calling thread, which matters when 8 requests share one core's GIL.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._idle: list[_Worker] = []
        self._changed = threading.Condition()  # a worker came back idle, or one retired (room to start one)
        self._started = 0

    def render(self, job: RenderJob) -> bytes:
        """Render a job in a worker process (in this thread when the pool has no workers)."""
        if self.workers == 0:
            return render_job(job)
        worker = self._checkout()
        try:
            ok, result = worker.call(job)
        except BaseException as exc:
            self._retire(worker)  # its pipe may hold half a message: never reuse it
            if not isinstance(exc, (EOFError, OSError)):
                raise
            log.warning("a rendering worker died; rendering here, a new worker starts with the next job")
            return render_job(job)
        with self._changed:
            self._idle.append(worker)
            self._changed.notify()
        if not ok:
            raise result
        return result

    def _retire(self, worker: _Worker) -> None:
        worker.stop()
        self._forget_one()

    def _forget_one(self) -> None:
        """One worker fewer: a caller waiting for a worker may start a new one."""
        with self._changed:
            self._started -= 1
            self._changed.notify()

    def _checkout(self) -> _Worker:
        """Take an idle worker, or start one while the pool has room, or wait for either."""
        with self._changed:
            while not self._idle and self._started >= self.workers:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
        try:
            return _Worker.start()
        except BaseException:
            self._forget_one()
            raise

    def close(self) -> None:
        """Stop the idle workers (busy ones stop at exit: they are daemon processes)."""
        with self._changed:
            idle, self._idle = self._idle, []
        for worker in idle:
            self._retire(worker)


class _Worker:
    """One rendering process and the parent's end of its pipe."""

    def __init__(self, process, connection) -> None:
        self.process, self.connection = process, connection

    @classmethod
    def start(cls) -> _Worker:
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # workers fork with reportlab and pyHanko imported
        else:  # no forkserver on this platform: a fresh interpreter per worker
            context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="hub-render", daemon=True)
        process.start()
        child.close()
        return cls(process, parent)

    def call(self, job: RenderJob) -> tuple[bool, object]:
        self.connection.send(job)
        return self.connection.recv()

    def stop(self) -> None:
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


def _serve(connection) -> None:
    """A worker process: render each job received, send back (True, PDF) or (False, error)."""
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - a missing font, say: every job then answers with the error
        log.exception("rendering worker could not warm up")
    while True:
        try:
            job = connection.recv()
        except EOFError:  # the parent closed the pipe or exited
            return
        try:
            answer = (True, render_job(job))
        except Exception as exc:  # noqa: BLE001 - the caller raises it
            answer = (False, exc)
        connection.send(answer)


_shared: RenderPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> RenderPool:
    """Return the process's pool: one worker per core, or $HUB_RENDER_WORKERS."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderPool(int(os.environ.get(WORKERS_ENV) or os.cpu_count() or 1))
            atexit.register(_shared.close)
        return _shared
