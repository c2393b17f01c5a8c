"""REST JSON connector: one keep-alive httpx client per source, a deadline, retries for GET, a breaker."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from connectors.base import ConnectorError, Health, SourceTimeout, SourceUnavailable, pick
from connectors.breaker import CircuitBreaker
from connectors.config import RestConfig

RETRY_STATUSES = frozenset({502, 503, 504})
FIRST_BACKOFF = 0.05  # seconds before the first retry; doubled each time, with jitter
JSON_HEADERS = {"Content-Type": "application/json"}
KEEPALIVE_SECONDS = 30.0


class RestConnector:
    """Fetch a subject's record from a department's JSON API."""

    def __init__(self, config: RestConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.breaker = CircuitBreaker(config.breaker.failures, config.breaker.reset_seconds, clock)
        self._retries = config.retries if config.method == "GET" else 0  # POST is not idempotent
        self._headers = {config.auth_header.name: config.auth_header.value} if config.auth_header else {}
        self._path = tuple(config.record_path.split(".")) if config.record_path else ()
        self._separator = "&" if "?" in config.url else "?"
        self._health_url = config.origin_health_url()
        self._client: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        """Return the shared client, created on first use in the running event loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A client's pooled connections belong to the loop that opened them.
            size = self.config.max_connections
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size,
                                  keepalive_expiry=KEEPALIVE_SECONDS)
            self._client = httpx.AsyncClient(timeout=self.config.timeout + 1, headers=self._headers, limits=limits)
            # httpcore rescans its whole queue on every state change, so callers beyond the pool size wait
            # here instead: measured 1.5 ms vs 0.8 ms of CPU per call with 128 callers and 8 connections.
            self._gate = asyncio.Semaphore(size)
            self._loop = loop
        return self._client

    async def fetch(self, subject: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """Return the subject's requested fields, None on 404; retries and all end within the timeout."""
        if not self.breaker.allow():
            raise SourceUnavailable("circuit open after repeated failures (熔断中), retry later")
        deadline = asyncio.get_running_loop().time() + self.config.timeout
        try:
            async with asyncio.timeout_at(deadline):
                record = await self._attempts(subject, fields, deadline)
        except (TimeoutError, httpx.TimeoutException):
            self.breaker.failed()
            raise SourceTimeout(f"no answer within {self.config.timeout:g} s") from None
        except ConnectorError:
            self.breaker.failed()
            raise
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return None if record is None else pick(record, fields)

    async def _attempts(self, subject: str, fields: Sequence[str], deadline: float) -> dict[str, Any] | None:
        """Send, retrying connect failures and 502/503/504 with jittered exponential backoff before the deadline."""
        url = self._url(subject, fields)
        attempt = 0
        while True:
            try:
                response = await self._send(url, subject, fields)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                error = SourceUnavailable(transport_reason(exc))
            else:
                if response.status_code not in RETRY_STATUSES:
                    return self._record(response)
                error = SourceUnavailable(f"source answered HTTP {response.status_code}")
            delay = FIRST_BACKOFF * (1 << attempt) * (0.5 + random.random() / 2)
            if attempt >= self._retries or asyncio.get_running_loop().time() + delay >= deadline:
                raise error
            await asyncio.sleep(delay)
            attempt += 1

    def _url(self, subject: str, fields: Sequence[str]) -> str:
        url = self.config.url.replace("{subject}", quote(subject, safe=""))
        if self.config.fields_param:
            url += f"{self._separator}{self.config.fields_param}={quote(','.join(fields), safe=',')}"
        return url

    async def _send(self, url: str, subject: str, fields: Sequence[str]) -> httpx.Response:
        client = self._http()
        try:
            async with self._gate:
                if self.config.method == "GET":
                    return await client.get(url)
                body = orjson.dumps({"subject": subject, "fields": list(fields)})
                return await client.post(url, content=body, headers=JSON_HEADERS)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.TimeoutException):
            raise
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceUnavailable(transport_reason(exc)) from None

    def _record(self, response: httpx.Response) -> dict[str, Any] | None:
        """Turn an answer into the record: 404 is no record; anything but a JSON object is unusable."""
        status = response.status_code
        if status == 404:
            return None
        if not 200 <= status < 300:
            side = "refused the query" if status < 500 else "failed"
            raise SourceUnavailable(f"source {side}: HTTP {status}")
        try:
            record = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise SourceUnavailable("the answer is not JSON") from None
        for key in self._path:
            if not isinstance(record, dict) or key not in record:
                raise SourceUnavailable(f"the answer has no {'.'.join(self._path)!r}")
            record = record[key]
        if record is None and self._path:
            return None
        if not isinstance(record, dict):
            raise SourceUnavailable("the answer is not a JSON object")
        return record

    async def health(self) -> Health:
        """Probe the health URL; never raises."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout):
                response = await self._http().get(self._health_url)
        except (TimeoutError, httpx.TimeoutException):
            return Health(False, f"no answer within {self.config.timeout:g} s", _ms(started))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Health(False, transport_reason(exc), _ms(started))
        detail = f"HTTP {response.status_code}"
        if self.breaker.state != "closed":
            detail += f"; circuit {self.breaker.state}"
        return Health(response.is_success, detail, _ms(started))

    async def aclose(self) -> None:
        """Close the pooled connections (only possible from the loop that opened them)."""
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()


def transport_reason(exc: Exception) -> str:
    """Say briefly why the source could not be reached, without echoing URLs or secrets."""
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect to the source (connection refused or host unreachable)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the source closed the connection without a valid HTTP answer"
    return f"HTTP transport error ({type(exc).__name__})"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
