"""POST /licenses over HTTP with a department token: sequential and with concurrent clients."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import perf_counter

import aiohttp
import httpx

from bench.loadgen import percentile
from bench.ui import Tick
from hub.core.national_ids import make_credit_code
from hub.demo.data import BUSINESS

REGION_CODE = "990100"
FIRST_SEED = 40_000_000  # the demo's companies use 12_340_000 + i
TIMEOUT = 30.0


@dataclass(frozen=True)
class IssueResult:
    """Licenses issued (201) in the window, and their latencies."""

    clients: int
    issued: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    first_error: str = ""

    @property
    def per_second(self) -> float:
        """Return licenses issued per second."""
        return self.issued / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Tally:
    """Latencies of the licenses issued and the failures, shared by the clients."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def fail(self, detail: str) -> None:
        """Count one failed request, keeping the first failure's detail."""
        self.errors += 1
        self.first_error = self.first_error or detail[:300]


def business_license_request(credit_code: str) -> dict:
    """Return a business license request like the tests', for the holder credit_code."""
    return {
        "type": BUSINESS,
        "holder": {"id_type": "credit_code", "id": credit_code, "name": "福州闽江数字科技有限公司"},
        "data": {"legal_representative": "林建华", "enterprise_type": "有限责任公司", "registered_capital": "500万元",
                 "established": "2015-03-15", "address": "示例市鼓楼区五四路100号", "business_scope": "软件开发"},
    }


def credit_codes(first_seed: int = FIRST_SEED) -> Iterator[str]:
    """Yield fresh valid credit codes, a new one for every request."""
    for seed in itertools.count(first_seed):
        yield make_credit_code(seed, region=REGION_CODE)


def department_token(base_url: str, client: tuple[str, str]) -> str:
    """Return an access token for a department client (client credentials, HTTP Basic)."""
    response = httpx.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=client,
                          timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["access_token"]


async def _issue_one(http: aiohttp.ClientSession, credit_code: str, tally: _Tally) -> None:
    """Issue one license and record its latency, or the failure."""
    started = perf_counter()
    try:
        async with http.post("/licenses", json=business_license_request(credit_code)) as response:
            body = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        tally.fail(f"{type(error).__name__}: {error}")
        return
    if response.status == 201:
        tally.latencies.append(perf_counter() - started)
    else:
        tally.fail(f"{response.status} {body.decode(errors='replace')}")


async def _issue_until(http: aiohttp.ClientSession, codes: Iterator[str], window: tuple[float, float],
                       budget: Iterator[int], tally: _Tally, tick: Tick) -> None:
    """Issue licenses one after another until the window ends or the shared budget runs out."""
    started, deadline = window
    while perf_counter() < deadline and next(budget, None) is not None:
        await _issue_one(http, next(codes), tally)
        tick(perf_counter() - started)


async def issue_for(base_url: str, token: str, *, clients: int, seconds: float, max_issues: int,
                    codes: Iterator[str], tick: Tick) -> IssueResult:
    """Issue with clients concurrent clients for seconds (at most max_issues licenses)."""
    tally, budget = _Tally(), iter(range(max_issues))
    headers = {"Authorization": f"Bearer {token}"}
    # aiohttp, not httpx: the clients share the cores with the hub, and an httpx call costs several times more CPU.
    async with aiohttp.ClientSession(base_url=base_url, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT),
                                     connector=aiohttp.TCPConnector(limit=clients)) as http:
        started = perf_counter()
        window = (started, started + seconds)
        await asyncio.gather(*(_issue_until(http, codes, window, budget, tally, tick) for _ in range(clients)))
        elapsed = perf_counter() - started
    latencies = sorted(tally.latencies)
    return IssueResult(clients=clients, issued=len(latencies), errors=tally.errors, seconds=elapsed,
                       p50_ms=percentile(latencies, 0.50) * 1000, p99_ms=percentile(latencies, 0.99) * 1000,
                       first_error=tally.first_error)


def issuance(base_url: str, client: tuple[str, str], *, clients: int, seconds: float, max_issues: int,
             codes: Iterator[str], tick: Tick) -> IssueResult:
    """Get a token and run issue_for() on a fresh event loop."""
    token = department_token(base_url, client)
    return asyncio.run(issue_for(base_url, token, clients=clients, seconds=seconds, max_issues=max_issues,
                                 codes=codes, tick=tick))


def warm_up(base_url: str, client: tuple[str, str], *, clients: int, codes: Iterator[str]) -> None:
    """Issue a few licenses untimed, so that every server process has started its rendering workers."""
    issuance(base_url, client, clients=clients, seconds=60.0, max_issues=4 * clients, codes=codes, tick=lambda _: None)
