"""Run the demo department systems beside `hub serve --demo-systems`: started, checked and stopped with the hub.

A demo system must answer its own health check, with its marker and the instance value this process gave
it, before the hub serves: whatever else holds its port is never taken for it. When the hub stops, the
child is stopped and reaped; when the hub is killed outright, the child notices and exits by itself.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

from demo_systems.household import SERVICE as HOUSEHOLD_SERVICE

START_TIMEOUT = 60.0  # seconds for a demo system to answer its health check (it builds its records first)
STOP_TIMEOUT = 10.0


class DemoSystemError(Exception):
    """A demo system could not start; the message names the port and the setting to change."""


def port_in_use(host: str, port: int) -> bool:
    """Tell whether something already listens on host:port (a bind as uvicorn makes it, with SO_REUSEADDR)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        return False  # not ours to judge: the server reports an unknown host itself
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def _port_hint(port: int, setting: str) -> str:
    return (f"Stop the program that holds port {port}, or choose a free port with {setting} "
            f"(e.g. {setting}={port + 100} make run).")


class DemoSystem:
    """One demo system in a child process of the hub."""

    def __init__(self, name: str, module: str, *, port: int, setting: str, service: str,
                 on_exit: Callable[[str], None] = lambda message: None) -> None:
        self.name, self.module, self.port, self.setting, self.service = name, module, port, setting, service
        self.instance = secrets.token_hex(8)
        self.process: subprocess.Popen | None = None
        self._stopping = False
        self._on_exit = on_exit

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = START_TIMEOUT) -> None:
        """Start the system and wait until it answers as itself; raise DemoSystemError (nothing left running)."""
        if port_in_use("127.0.0.1", self.port):
            raise DemoSystemError(f"Cannot start the {self.name}: port {self.port} is already in use. "
                                  + _port_hint(self.port, self.setting))
        self.process = subprocess.Popen([sys.executable, "-m", self.module, "--port", str(self.port),
                                         "--instance", self.instance, "--parent", str(os.getpid())])
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self._reap, name=f"reap-{self.module}", daemon=True).start()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise DemoSystemError(f"The {self.name} stopped (exit code {code}) before answering on port "
                                      f"{self.port}. " + _port_hint(self.port, self.setting))
            answer = self._health()
            if answer is not None:
                if answer.get("service") == self.service and answer.get("instance") == self.instance:
                    return
                raise DemoSystemError(f"Port {self.port} answers, but not as the {self.name} this hub started: "
                                      "another program holds it. " + _port_hint(self.port, self.setting))
            if time.monotonic() > deadline:
                raise DemoSystemError(f"The {self.name} did not answer on port {self.port} within {timeout:.0f} s. "
                                      + _port_hint(self.port, self.setting))
            time.sleep(0.1)

    def _health(self) -> dict | None:
        """The health answer as a dict ({} for anything that is not JSON), or None while nothing answers."""
        try:
            response = httpx.get(f"{self.url}/health", timeout=2)
        except httpx.TransportError:
            return None
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _reap(self) -> None:
        # Wait on the child for as long as it lives, so a crash is reported at once and leaves no zombie.
        code = self.process.wait()
        if not self._stopping:
            self._on_exit(f"The {self.name} on port {self.port} stopped unexpectedly (exit code {code}).")

    def stop(self) -> None:
        """Stop the child and reap it (SIGTERM, then SIGKILL after STOP_TIMEOUT seconds)."""
        self._stopping = True
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def household_system(settings, *, on_exit: Callable[[str], None] = lambda message: None) -> DemoSystem:
    """The demo household registry (户籍, REST) on HUB_DEMO_HOUSEHOLD_PORT."""
    return DemoSystem("demo household registry (户籍)", "demo_systems.household", port=settings.demo_household_port,
                      setting="HUB_DEMO_HOUSEHOLD_PORT", service=HOUSEHOLD_SERVICE, on_exit=on_exit)
