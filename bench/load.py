"""Run the load generator in its own process (so it does not share this process's GIL) and read its result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

from bench.loadgen import LoadResult, LoadSpec
from bench.site import REPO_ROOT

GRACE = 30.0  # seconds allowed past warm-up + duration before the generator is killed
POLL = 0.25


class LoadError(RuntimeError):
    """The load generator failed or overran."""


def loadgen_command(spec: LoadSpec) -> list[str]:
    """Return the command line of `python -m bench.loadgen` for spec."""
    return [sys.executable, "-m", "bench.loadgen", "--port", str(spec.port), "--path", spec.path,
            "--method", spec.method, "--body", spec.body, "--connections", str(spec.connections),
            "--duration", str(spec.duration), "--warmup", str(spec.warmup),
            *(arg for name, value in spec.headers for arg in ("--header", f"{name}: {value}"))]


def _wait(process: subprocess.Popen, limit: float, tick: Callable[[float], None]) -> None:
    """Wait for process, reporting elapsed seconds; kill it and raise LoadError past limit."""
    started = time.monotonic()
    while process.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > limit:
            process.kill()
            process.wait()
            raise LoadError(f"the load generator ran longer than {limit:.0f} s and was killed")
        tick(elapsed)
        time.sleep(POLL)


def run_load(spec: LoadSpec, tick: Callable[[float], None]) -> LoadResult:
    """Run one load in a separate process and return its result."""
    process = subprocess.Popen(loadgen_command(spec), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(process, spec.warmup + spec.duration + GRACE, tick)
        out, err = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise LoadError(f"the load generator exited with {process.returncode}: {err.decode(errors='replace')}")
    return LoadResult(**json.loads(out))
