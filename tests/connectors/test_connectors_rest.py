"""The REST JSON connector against real loopback HTTP servers: answers, failures, retries, breaker, secrets."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from connectors import ConnectorConfigError, SourceTimeout, SourceUnavailable, build, keep_secrets, redact, validate
from connectors.rest import RestConnector
from tests.support.servers import ServerThread, free_port

pytestmark = pytest.mark.anyio
RESIDENT = "110105199001010010"
RECORD = {"name": "张三", "address": "示例市鼓楼区五四路1号", "household": "示例市", "phone": "13800000000"}
SECRET = "k-3f9a7c-not-for-logs"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Department:
    """A department's JSON API; `hits` counts requests per path, `healthy` switches /switch answers."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.healthy: dict[str, bool] = {}
        self.seen: dict[str, dict] = {}
        self.in_flight = self.peak = 0
        self.app = FastAPI()
        self._answers()
        self._failures()
        self._counted()

    def _answers(self) -> None:
        """Routes that answer a record, in the shapes department systems use."""
        app, hits = self.app, self.hits

        @app.middleware("http")
        async def count(request: Request, call_next):
            hits[request.url.path] += 1
            self.seen[request.url.path] = {"headers": dict(request.headers), "query": dict(request.query_params)}
            return await call_next(request)

        @app.get("/residents/{subject}")
        async def resident(subject: str):
            return RECORD | {"subject": subject} if subject == RESIDENT else JSONResponse({"error": "none"}, 404)

        @app.get("/wrapped/{subject}")
        async def wrapped(subject: str):
            return {"code": 0, "data": RECORD if subject == RESIDENT else None}

        @app.post("/lookup")
        async def lookup(request: Request):
            body = await request.json()
            return RECORD | {"echo_fields": body["fields"]} if body["subject"] == RESIDENT else JSONResponse({}, 404)

        @app.get("/secure/{subject}")
        async def secure(request: Request, subject: str):
            ok = request.headers.get("x-api-key") == SECRET
            return RECORD if ok else JSONResponse({"error": "unauthorised"}, 401)

        @app.get("/health")
        async def health():
            return {"status": "ok"}

    def _failures(self) -> None:
        """Routes that are slow or answer something unusable."""
        app = self.app

        @app.get("/slow/{subject}")
        async def slow(subject: str):
            await asyncio.sleep(5)
            return RECORD

        @app.get("/garbage/{subject}")
        async def garbage(subject: str):
            return Response(b"\x00\xff\xfe{not json", media_type="application/json")

        @app.get("/html/{subject}")
        async def html(subject: str):
            return HTMLResponse("<html><body>系统维护中</body></html>")

        @app.get("/huge/{subject}")
        async def huge(subject: str):
            return Response(b'{"name": "' + b"x" * (2 << 20) + b'"}', media_type="application/json")

        @app.get("/array/{subject}")
        async def array(subject: str):
            return [RECORD]

        @app.get("/status/{code}/{subject}")
        async def status(code: int, subject: str):
            return JSONResponse({"error": code}, code)

        @app.post("/lookup-busy")
        async def lookup_busy():
            return JSONResponse({"error": "busy"}, 503)

    def _counted(self) -> None:
        """Routes whose answer depends on how often or how concurrently they are called."""
        app, hits = self.app, self.hits

        @app.get("/flaky/{subject}")
        async def flaky(request: Request, subject: str):
            return RECORD if hits[request.url.path] > 2 else JSONResponse({"error": "busy"}, 503)

        @app.get("/switch/{subject}")
        async def switch(subject: str):
            return RECORD if self.healthy.get(subject) else JSONResponse({"error": "down"}, 503)

        @app.get("/busy/{subject}")
        async def busy(subject: str):
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(0.05)
            self.in_flight -= 1
            return RECORD


@pytest.fixture(scope="module")
def department() -> Department:
    dept = Department()
    with ServerThread(dept.app) as base:
        dept.base = base
        yield dept


def rest(department: Department, path: str, **config) -> object:
    return build("rest", {"url": f"{department.base}{path}", **config})


async def test_answer_carries_only_the_requested_fields(department):
    connector = rest(department, "/residents/{subject}")
    try:
        assert await connector.fetch(RESIDENT, ["name", "address", "not_in_source"]) == {
            "name": RECORD["name"], "address": RECORD["address"]}
    finally:
        await connector.aclose()


async def test_unknown_subject_is_none(department):
    connector = rest(department, "/residents/{subject}")
    assert await connector.fetch("110105199001010037", ["name"]) is None
    await connector.aclose()


async def test_subject_is_url_quoted(department):
    connector = rest(department, "/residents/{subject}")
    assert await connector.fetch("../health?x=1", ["status"]) is None  # not a path traversal to /health
    await connector.aclose()


async def test_record_path_and_fields_param(department):
    connector = rest(department, "/wrapped/{subject}", record_path="data", fields_param="fields")
    assert await connector.fetch(RESIDENT, ["name", "phone"]) == {"name": "张三", "phone": "13800000000"}
    assert department.seen[f"/wrapped/{RESIDENT}"]["query"] == {"fields": "name,phone"}
    assert await connector.fetch("110105199001010037", ["name"]) is None  # {"data": null}
    await connector.aclose()


async def test_nobody_listening_is_unavailable_fast():
    connector = build("rest", {"url": f"http://127.0.0.1:{free_port()}/r/{{subject}}", "timeout": 3})
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        await connector.fetch(RESIDENT, ["name"])
    assert time.monotonic() - started < 1.0
    assert raised.value.code == "source_unavailable" and "connect" in str(raised.value)
    await connector.aclose()


async def test_slow_source_times_out_within_the_deadline(department):
    connector = rest(department, "/slow/{subject}", timeout=0.5, retries=2)
    started = time.monotonic()
    with pytest.raises(SourceTimeout) as raised:
        await connector.fetch(RESIDENT, ["name"])
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5, elapsed
    assert raised.value.code == "source_timeout"
    await connector.aclose()


@pytest.mark.parametrize("path", ["/garbage/{subject}", "/html/{subject}", "/array/{subject}"])
async def test_answer_that_is_not_a_json_object_is_unavailable(department, path):
    connector = rest(department, path)
    with pytest.raises(SourceUnavailable, match="not JSON|not a JSON object"):
        await connector.fetch(RESIDENT, ["name"])
    await connector.aclose()


async def test_oversized_answer_is_refused(department):
    connector = rest(department, "/huge/{subject}")
    with pytest.raises(SourceUnavailable, match="larger than"):
        await connector.fetch(RESIDENT, ["name"])
    await connector.aclose()


async def test_a_server_that_does_not_speak_http_is_unavailable():
    """A listener that answers bytes that are not HTTP: a clear 'no valid HTTP answer', after the retries."""
    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(babble, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connector = build("rest", {"url": f"http://127.0.0.1:{port}/r/{{subject}}", "timeout": 2, "retries": 1})
    try:
        with pytest.raises(SourceUnavailable, match="without a valid HTTP answer"):
            await connector.fetch(RESIDENT, ["name"])
    finally:
        await connector.aclose()
        server.close()
        await server.wait_closed()


async def test_refusal_names_the_status_and_is_not_retried(department):
    connector = rest(department, "/status/403/{subject}", retries=3)
    with pytest.raises(SourceUnavailable, match="HTTP 403"):
        await connector.fetch("refused-1", ["name"])
    assert department.hits["/status/403/refused-1"] == 1
    await connector.aclose()


async def test_get_is_retried_through_503s_until_it_succeeds(department):
    connector = rest(department, "/flaky/{subject}", retries=2)
    assert await connector.fetch("flaky-1", ["name"]) == {"name": "张三"}
    assert department.hits["/flaky/flaky-1"] == 3
    await connector.aclose()


async def test_retries_give_up_after_the_configured_count(department):
    connector = rest(department, "/status/502/{subject}", retries=2)
    with pytest.raises(SourceUnavailable, match="HTTP 502"):
        await connector.fetch("gone-1", ["name"])
    assert department.hits["/status/502/gone-1"] == 3
    await connector.aclose()


async def test_internal_server_error_is_not_retried(department):
    connector = rest(department, "/status/500/{subject}", retries=2)
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        await connector.fetch("broken-1", ["name"])
    assert department.hits["/status/500/broken-1"] == 1
    await connector.aclose()


async def test_post_sends_subject_and_fields_and_is_never_retried(department):
    ok = rest(department, "/lookup", method="POST")
    assert await ok.fetch(RESIDENT, ["name", "echo_fields"]) == {"name": "张三", "echo_fields": ["name", "echo_fields"]}
    busy = rest(department, "/lookup-busy", method="POST", retries=3)
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        await busy.fetch(RESIDENT, ["name"])
    assert department.hits["/lookup-busy"] == 1
    await ok.aclose()
    await busy.aclose()


async def test_breaker_opens_fails_fast_then_half_opens(department):
    now = [0.0]  # the breaker's monotonic clock, moved by the test
    config = validate("rest", {"url": f"{department.base}/switch/{{subject}}", "retries": 0,
                               "breaker": {"failures": 3, "reset_seconds": 0.4}})
    connector = RestConnector(config, clock=lambda: now[0])
    path = "/switch/breaker-1"
    for _ in range(3):
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            await connector.fetch("breaker-1", ["name"])
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await connector.fetch("breaker-1", ["name"])
    assert time.monotonic() - started < 0.05
    assert department.hits[path] == 3  # the open circuit did not reach the server
    now[0] += 0.45
    with pytest.raises(SourceUnavailable, match="HTTP 503"):  # the half-open trial fails: open again
        await connector.fetch("breaker-1", ["name"])
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await connector.fetch("breaker-1", ["name"])
    assert department.hits[path] == 4
    department.healthy["breaker-1"] = True
    now[0] += 0.45
    assert await connector.fetch("breaker-1", ["name"]) == {"name": "张三"}  # the trial succeeds: closed
    assert await connector.fetch("breaker-1", ["name"]) == {"name": "张三"}
    assert department.hits[path] == 6
    await connector.aclose()


async def test_auth_header_is_sent_and_redact_hides_it(department):
    config = {"url": f"{department.base}/secure/{{subject}}", "auth_header": {"name": "X-Api-Key", "value": SECRET}}
    connector = build("rest", config)
    assert await connector.fetch(RESIDENT, ["name"]) == {"name": "张三"}
    assert department.seen[f"/secure/{RESIDENT}"]["headers"]["x-api-key"] == SECRET
    shown = redact("rest", config)
    assert shown["auth_header"] == {"name": "X-Api-Key", "value": "***"}
    assert SECRET not in repr(shown) and config["auth_header"]["value"] == SECRET  # the original is untouched
    without = rest(department, "/secure/{subject}")
    with pytest.raises(SourceUnavailable, match="HTTP 401"):
        await without.fetch(RESIDENT, ["name"])
    await connector.aclose()
    await without.aclose()


async def test_health_reports_the_source_and_a_dead_one(department):
    connector = rest(department, "/residents/{subject}")
    health = await connector.health()
    assert health.ok and health.detail == "HTTP 200" and health.latency_ms > 0
    dead = build("rest", {"url": f"http://127.0.0.1:{free_port()}/r/{{subject}}"})
    assert not (await dead.health()).ok
    await connector.aclose()


async def test_many_concurrent_queries_share_one_client(department):
    connector = rest(department, "/residents/{subject}")
    answers = await asyncio.gather(*(connector.fetch(RESIDENT, ["name"]) for _ in range(200)))
    assert answers == [{"name": "张三"}] * 200
    await connector.aclose()


async def test_requests_in_flight_never_exceed_max_connections(department):
    connector = rest(department, "/busy/{subject}", max_connections=4)
    answers = await asyncio.gather(*(connector.fetch(RESIDENT, ["name"]) for _ in range(20)))
    assert answers == [{"name": "张三"}] * 20
    assert department.peak == 4
    await connector.aclose()


@pytest.mark.parametrize(("config", "key"), [
    ({"url": "http://127.0.0.1/residents"}, "url"),
    ({"url": "file:///etc/{subject}"}, "url"),
    ({"url": "http://h/{subject}", "timeout": 31}, "timeout"),
    ({"url": "http://h/{subject}", "method": "DELETE"}, "method"),
    ({"url": "http://h/{subject}", "auth_header": {"name": "X Key", "value": "v"}}, "auth_header.name"),
    ({"url": "http://h/{subject}", "breaker": {"failures": 0}}, "breaker.failures"),
    ({"url": "http://h/{subject}", "verify": False}, "verify"),
])
def test_bad_config_is_rejected_naming_the_key(config, key):
    with pytest.raises(ConnectorConfigError) as raised:
        build("rest", config)
    assert raised.value.code == "connector_config_invalid"
    assert f"{key}:" in str(raised.value)


def test_unknown_connector_type_is_rejected():
    with pytest.raises(ConnectorConfigError, match="unknown connector type 'ftp'"):
        build("ftp", {})


def test_an_edit_that_sends_back_the_shown_secrets_keeps_the_stored_ones():
    stored = {"url": "http://hub:s3cret@10.0.0.5/r/{subject}?token=abc", "auth_header": {"name": "X-Api-Key",
                                                                                       "value": SECRET}}
    edit = redact("rest", stored) | {"timeout": 2}
    assert "s3cret" not in repr(edit) and "abc" not in repr(edit)
    assert keep_secrets("rest", edit, stored) == stored | {"timeout": 2}
    moved = edit | {"url": edit["url"].replace("10.0.0.5", "10.0.0.6")}
    with pytest.raises(ConnectorConfigError, match="url"):
        keep_secrets("rest", moved, stored)
    renamed = edit | {"auth_header": {"name": "Authorization", "value": "***"}}
    with pytest.raises(ConnectorConfigError, match="auth_header"):
        keep_secrets("rest", renamed, stored)
    fresh = edit | {"auth_header": {"name": "X-Api-Key", "value": "new-key"}}
    assert keep_secrets("rest", fresh, stored)["auth_header"]["value"] == "new-key"
