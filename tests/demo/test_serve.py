"""`hub serve --demo-systems` on a busy machine: taken ports stop it with a clear message, and no child outlives it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from demo_systems.household import SERVICE, create_app
from hub.demo.systems import DemoSystem, DemoSystemError
from tests.conftest import ROOT
from tests.support.servers import ServerThread, free_port

START_BOUND = 30  # seconds within which a refused start must have exited


def _env(tmp: Path, *, hub_port: int, household_port: int) -> dict:
    return os.environ | {"HUB_VAR_DIR": str(tmp / "var"), "HUB_STORAGE_URL": f"file://{tmp / 'var' / 'objects'}",
                         "HUB_LICENSE_TYPES_DIR": str(ROOT / "schemas" / "license-types"),
                         "HUB_PORT": str(hub_port), "HUB_DEMO_HOUSEHOLD_PORT": str(household_port),
                         "HUB_PUBLIC_URL": f"http://127.0.0.1:{hub_port}", "COLUMNS": "200"}


def _serve(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _households(port: int) -> list[psutil.Process]:
    """Every live demo household process serving the given port, whoever started it."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if "demo_systems.household" in cmdline and str(port) in cmdline \
                and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def _zombie_children(pid: int) -> list[psutil.Process]:
    try:
        return [c for c in psutil.Process(pid).children() if c.status() == psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def _finish(process: subprocess.Popen, timeout: float = START_BOUND) -> tuple[int, str, float]:
    """Wait for a hub that should refuse to start; return (exit code, output, seconds taken)."""
    start = time.monotonic()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"hub serve was still running after {timeout} s")
    return process.returncode, output, time.monotonic() - start


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture()
def answering_household():
    """Another demo household registry already answering on a port (left over from another run)."""
    with ServerThread(create_app(n=10)) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("holder", ["listener", "household"])
def test_serve_stops_when_the_demo_household_port_is_taken(tmp_path, holder, request):
    sock = _listener() if holder == "listener" else None
    taken = sock.getsockname()[1] if sock else request.getfixturevalue("answering_household")
    try:
        hub = _serve(_env(tmp_path, hub_port=free_port(), household_port=taken), "--demo-systems")
        code, output, seconds = _finish(hub)
    finally:
        if sock:
            sock.close()
    assert code != 0 and seconds < START_BOUND
    assert f"port {taken}" in output and "HUB_DEMO_HOUSEHOLD_PORT" in output, output
    assert "Hub on http" not in output  # it never started serving
    assert _households(taken) == []  # nothing of the refused hub's is left


def test_serve_stops_when_its_own_port_is_taken(tmp_path):
    with _listener() as sock:
        port = sock.getsockname()[1]
        household = free_port()
        code, output, seconds = _finish(_serve(_env(tmp_path, hub_port=port, household_port=household),
                                               "--demo-systems"))
    assert code == 2 and seconds < START_BOUND
    assert f"port {port}" in output and "HUB_PORT" in output, output
    assert _households(household) == []  # checked before any demo system starts


def test_serve_refuses_the_same_port_for_the_hub_and_the_demo_household(tmp_path):
    port = free_port()
    code, output, _ = _finish(_serve(_env(tmp_path, hub_port=port, household_port=port), "--demo-systems"))
    assert code == 2 and "HUB_DEMO_HOUSEHOLD_PORT" in output and str(port) in output, output


def _wait_serving(hub: subprocess.Popen, hub_port: int, household_port: int) -> psutil.Process:
    """Wait until both the hub and its household registry answer; return the registry's process."""
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=2) as http:
        while True:
            assert hub.poll() is None, hub.stdout.read()
            try:
                hub_up = http.get(f"http://127.0.0.1:{hub_port}/health").status_code == 200
                household = http.get(f"http://127.0.0.1:{household_port}/health").json()
                if hub_up:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hub serve --demo-systems did not come up within 60 s"
            time.sleep(0.2)
    assert household["service"] == SERVICE and household["status"] == "ok"
    (child,) = _households(household_port)
    assert child.ppid() == hub.pid
    return child


def test_serve_with_demo_systems_runs_the_household_and_stopping_the_hub_stops_it(tmp_path):
    hub_port, household_port = free_port(), free_port()
    hub = _serve(_env(tmp_path, hub_port=hub_port, household_port=household_port), "--demo-systems")
    try:
        child = _wait_serving(hub, hub_port, household_port)
        assert _zombie_children(hub.pid) == []
        hub.send_signal(signal.SIGTERM)  # the hub alone: it must stop its child itself
        output, _ = hub.communicate(timeout=30)
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.communicate()
    assert hub.returncode == 0, output
    assert f"Demo household registry (户籍, REST) on http://127.0.0.1:{household_port}" in output
    assert not psutil.pid_exists(child.pid)  # stopped and reaped before the hub exited
    assert _households(household_port) == []


def test_a_killed_hub_leaves_no_household_behind(tmp_path):
    hub_port, household_port = free_port(), free_port()
    hub = _serve(_env(tmp_path, hub_port=hub_port, household_port=household_port), "--demo-systems")
    try:
        child = _wait_serving(hub, hub_port, household_port)
        hub.kill()  # SIGKILL: no chance to stop the child
        hub.communicate(timeout=10)
        child.wait(timeout=10)  # the child notices its parent is gone and exits
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGKILL)
    assert _households(household_port) == []


@pytest.mark.parametrize("behaviour, words", [("crash", "stopped (exit code 3)"),
                                              ("stranger", "answers, but not as the demo household")])
def test_a_demo_system_that_fails_to_start_is_stopped_and_reaped(monkeypatch, behaviour, words):
    monkeypatch.setenv("IMPOSTOR", behaviour)
    port = free_port()
    system = DemoSystem("demo household registry (户籍)", "tests.support.demo_impostor", port=port,
                        setting="HUB_DEMO_HOUSEHOLD_PORT", service=SERVICE)
    with pytest.raises(DemoSystemError) as refused:
        system.start(timeout=20)
    assert words in str(refused.value) and f"port {port}" in str(refused.value)
    assert "HUB_DEMO_HOUSEHOLD_PORT" in str(refused.value)
    assert system.process.returncode is not None  # waited for: no zombie
    assert not psutil.pid_exists(system.process.pid)
