"""Department systems for the exchange tests: the demo household registry, plus a misbehaving source."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import httpx

from connectors import parse_target, targets
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse

from demo_systems.household import create_app as household_app
from demo_systems.population import people
from hub.bootstrap import initialise
from hub.core.clock import FixedClock
from hub.main import create_app
from tests.conftest import Hub, bearer, make_settings
from tests.support.servers import ServerThread, free_port

HOUSEHOLD_KEY = "test-household-key"
HOUSEHOLD_FIELDS = [
    {"name": "name", "type": "string", "label": "姓名", "sensitivity": "personal"},
    {"name": "gender", "type": "string", "label": "性别", "sensitivity": "personal"},
    {"name": "birth_date", "type": "date", "label": "出生日期", "sensitivity": "personal"},
    {"name": "ethnicity", "type": "string", "label": "民族", "sensitivity": "sensitive_personal"},
    {"name": "address", "type": "string", "label": "户籍地址", "sensitivity": "personal"},
]


def misbehaving_app() -> FastAPI:
    """A source that is slow, answers garbage, or fails, depending on the path."""
    app = FastAPI()
    hits = {"boom": 0, "gate": 0}
    app.state.hits = hits
    app.state.gate = threading.Event()  # /gate answers once it is set: tests hold a query at the source
    app.state.gate.set()

    @app.get("/slow/{subject}")
    async def slow(subject: str) -> dict:
        await asyncio.sleep(3)
        return {"name": "late"}

    @app.get("/garbage/{subject}")
    async def garbage(subject: str) -> PlainTextResponse:
        return PlainTextResponse("<html>not json</html>")

    @app.get("/boom/{subject}")
    async def boom(subject: str) -> PlainTextResponse:
        hits["boom"] += 1
        return PlainTextResponse("internal error", status_code=500)

    @app.get("/gate/{subject}")
    async def gate(subject: str) -> dict:
        hits["gate"] += 1
        while not app.state.gate.is_set():
            await asyncio.sleep(0.01)
        return {"name": "张三", "gender": "男"}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


def household_source(url: str, *, source_id: str = "household.residents", sharing: str = "conditional",
                     path: str = "/residents/{subject}", timeout: float = 2.0) -> dict:
    return {
        "id": source_id, "name": "户籍人口基本信息", "category": "人口信息", "subject_key": "resident_id",
        "sharing_class": sharing, "update_frequency": "realtime", "fields": HOUSEHOLD_FIELDS,
        "connector": {"type": "rest", "config": {
            "url": url + path, "timeout": timeout, "retries": 1,
            "auth_header": {"name": "X-Api-Key", "value": HOUSEHOLD_KEY}}},
    }


def approve(hub, department: dict, target: str) -> dict:
    """Approve a connector target for a department as the operator does (POST /egress-rules); idempotent."""
    body = {"department": department["code"], "target": target}
    response = hub.client.post("/egress-rules", json=body, headers=hub.operator_headers())
    if response.status_code == 409:  # approved already, e.g. by an earlier test of the module
        listed = hub.client.get("/egress-rules", params={"department": department["code"]},
                                headers=hub.operator_headers()).json()
        return next(rule for rule in listed if rule["target"] == canonical(target))
    assert response.status_code == 201, response.text
    return response.json()


def canonical(target: str) -> str:
    """A target as the hub spells it (explicit port, lower-case host, SQLite path resolved)."""
    return str(parse_target(target))


def register(hub, department: dict, body: dict, *, headers: dict | None = None):
    """Approve the source's connector targets for its owner, then POST /sources; returns the response."""
    for target in targets(body["connector"]["type"], body["connector"]["config"]):
        approve(hub, department, str(target))
    return hub.client.post("/sources", json=body, headers=headers or bearer(hub, department))


def citizens(n: int = 3) -> list:
    return list(people(n))


def start_household(request, n: int = 50) -> str:
    server = ServerThread(household_app(n=n, api_key=HOUSEHOLD_KEY))
    url = server.__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    return url


def register_household(hub, departments: dict, request) -> str:
    """Serve the household registry on loopback and register it as the police department's source; its URL."""
    url = start_household(request)
    response = register(hub, departments["police"], household_source(url))
    assert response.status_code == 201, response.text
    return url


def start_misbehaving(request) -> tuple[str, FastAPI]:
    app = misbehaving_app()
    server = ServerThread(app)
    url = server.__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    return url, app


class Counted:
    """An ASGI app wrapped to count the HTTP requests that reach it, by path."""

    def __init__(self, app) -> None:
        self.app, self.hits = app, Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.hits[scope["path"]] += 1
        await self.app(scope, receive, send)

    @property
    def total(self) -> int:
        return sum(self.hits.values())


def counting_system() -> Counted:
    """A department's JSON API that counts every request: records, health, and redirects to app.state.location."""
    app = FastAPI()
    app.state.location = "http://127.0.0.1:9"

    @app.get("/residents/{subject}")
    async def resident(subject: str) -> dict:
        return {"name": "张三", "gender": "男"}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/redirect/{subject}")
    async def redirect(subject: str) -> RedirectResponse:
        return RedirectResponse(f"{app.state.location}/residents/{subject}", status_code=302)

    @app.get("/health-redirect")
    async def health_redirect() -> RedirectResponse:
        return RedirectResponse(f"{app.state.location}/health", status_code=302)

    return Counted(app)


def start_counting(request) -> tuple[str, Counted]:
    """Serve a counting department system on a loopback port until the test (or fixture) ends."""
    system = counting_system()
    server = ServerThread(system)
    url = server.__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    return url, system


def serve_hub(backend: str, tmp: Path, request) -> tuple[Hub, Counted]:
    """A hub served over real HTTP on a loopback port, which is its own public URL; requests to it are counted."""
    settings = make_settings(backend, tmp, request)
    port = free_port()
    settings.public_url, settings.port = f"http://127.0.0.1:{port}", port
    clock = FixedClock(datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc))
    operator = initialise(settings, now=clock())
    app = create_app(settings, clock=clock)
    counted = Counted(app)
    server = ServerThread(counted, port)
    base = server.__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    client = httpx.Client(base_url=base, timeout=30)
    request.addfinalizer(client.close)
    return Hub(app=app, client=client, settings=settings, clock=clock, operator=operator, backend=backend), counted
