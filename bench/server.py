"""Start the hub under uvicorn in a subprocess on 127.0.0.1, wait until it answers, stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.site import REPO_ROOT, HubSite

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """The hub did not start or answer."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HUB_FACTORY = "hub.main:create_app"


def uvicorn_command(port: int, workers: int, factory: str = HUB_FACTORY) -> list[str]:
    """Return the uvicorn command line serving an app factory (the hub's unless told), as every load serves it."""
    return [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]


def start_server(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Launch a server command in its own process group with env, logging to log_path."""
    with log_path.open("ab") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(process: subprocess.Popen, base_url: str, log_path: Path, timeout: float = START_TIMEOUT,
               probe: str = "/health") -> None:
    """Poll GET probe until it answers 200; raise ServerError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(f"uvicorn exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if client.get(probe).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise ServerError(f"uvicorn did not answer within {timeout:.0f} s:\n{_tail(log_path)}")


def stop_server(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Send SIGTERM, then SIGKILL to the server's process group after timeout seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(process.pid)
    if process.poll() is None:
        process.wait(timeout=timeout)


def _kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of the process group this module started (uvicorn's workers)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_cpu_seconds(pgid: int) -> float | None:
    """Return the CPU time (user + system) used so far by the live processes of a process group (Linux /proc)."""
    total, ticks = 0, os.sysconf("SC_CLK_TCK")
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime(12) stime(13)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class Served:
    """A running hub: its URL and the process group its uvicorn processes belong to."""

    base_url: str
    pgid: int

    def cpu_seconds(self) -> float | None:
        """Return the CPU time the server's processes have used so far (None where /proc is missing)."""
        return group_cpu_seconds(self.pgid)


@contextmanager
def running(command: list[str], env: dict[str, str], base_url: str, log_path: Path,
            probe: str = "/health") -> Iterator[Served]:
    """Run a server command for the duration of the block, once GET probe answers."""
    process = start_server(command, env, log_path)
    try:
        wait_ready(process, base_url, log_path, probe=probe)
        yield Served(base_url, process.pid)
    finally:
        stop_server(process)


def running_hub(site: HubSite, workers: int = 1) -> AbstractContextManager[Served]:
    """Serve the site with uvicorn for the duration of the block."""
    return running(uvicorn_command(site.port, workers), site.process_env(), site.base_url,
                   site.root / f"uvicorn-{workers}w.log")
