"""Closed-loop HTTP/1.1 load generator: N keep-alive connections for a fixed time, one process.

Run as `python -m bench.loadgen --port P --path /verify --body '{...}'`; prints one JSON object.
A raw asyncio protocol (on uvloop when present) is used instead of an HTTP client library so that
the generator, which shares the machine's cores with the server, stays much cheaper than the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from time import perf_counter, process_time

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    port: int
    path: str
    method: str = "GET"
    body: str = ""
    host: str = "127.0.0.1"
    connections: int = 32
    duration: float = 10.0
    warmup: float = 1.0
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers, e.g. (("Authorization", "Bearer ..."),)


@dataclass(frozen=True)
class LoadResult:
    """Counts and latencies of the requests that completed inside the measurement window."""

    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    client_cpu: float = 0.0  # the generator's CPU time / wall time: near 1.0 means it, not the server, is the limit
    completed: int = 0  # responses received in all, warm-up included


@dataclass
class Tally:
    """Shared by every connection: the measurement window and what completed inside it."""

    start: float
    end: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    completed: int = 0  # every response, warm-up included

    def record(self, status: int, finished: float, latency: float) -> None:
        """Count one response; keep its status and latency if it completed inside the window."""
        self.completed += 1
        if self.start <= finished <= self.end:
            self.latencies.append(latency)
            self.statuses[status] += 1


def build_request(spec: LoadSpec) -> bytes:
    """Return the raw request bytes sent again and again on each connection."""
    body = spec.body.encode("utf-8")
    lines = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {spec.host}:{spec.port}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in spec.headers]
    if body or spec.method not in ("GET", "HEAD"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def response_length(buffer: bytearray) -> int | None:
    """Return the byte length of the complete response at the buffer's start, or None if incomplete."""
    head_end = buffer.find(_HEADER_END)
    if head_end < 0:
        return None
    match = _CONTENT_LENGTH.search(buffer, 0, head_end + 2)
    if match is None:
        raise ValueError("response without Content-Length")
    total = head_end + len(_HEADER_END) + int(match.group(1))
    return total if len(buffer) >= total else None


class _Connection(asyncio.Protocol):
    """One keep-alive connection that sends the next request as soon as the previous answer is complete."""

    def __init__(self, request: bytes, tally: Tally, done: asyncio.Future) -> None:
        self._request, self._tally, self._done = request, tally, done
        self._buffer = bytearray()
        self._sent = 0.0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the first request as soon as the connection is up."""
        self._transport = transport
        self._send()

    def _send(self) -> None:
        """Send the request again and note when."""
        self._sent = perf_counter()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        """Collect the response; once complete, record it and send the next request or finish."""
        self._buffer += data
        try:
            length = response_length(self._buffer)
        except ValueError:
            self._finish(error=True)
            return
        if length is None:
            return
        finished = perf_counter()
        self._tally.record(int(self._buffer[9:12]), finished, finished - self._sent)
        del self._buffer[:length]
        if finished < self._tally.end:
            self._send()
        else:
            self._finish(error=False)

    def _finish(self, *, error: bool) -> None:
        """Close the connection and tell the driver whether it failed."""
        if not self._done.done():
            self._done.set_result(error)
        self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Treat a close by the server as a failure unless the connection already finished."""
        if not self._done.done():  # the server closed while a request was outstanding
            self._done.set_result(True)


async def _drive(spec: LoadSpec, request: bytes, tally: Tally) -> None:
    """Keep one connection busy until the window ends, reconnecting after a failure."""
    loop = asyncio.get_running_loop()
    while perf_counter() < tally.end:
        done = loop.create_future()
        try:
            await loop.create_connection(lambda: _Connection(request, tally, done), spec.host, spec.port)
            failed = await asyncio.wait_for(done, timeout=tally.end - perf_counter() + 5.0)
        except (OSError, asyncio.TimeoutError):
            failed = True
        if failed:
            tally.errors += 1
            await asyncio.sleep(0.01)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def summarise(tally: Tally, client_cpu: float = 0.0) -> LoadResult:
    """Turn a finished tally into requests per second and latency percentiles in milliseconds."""
    latencies = sorted(tally.latencies)
    seconds = tally.end - tally.start
    bad = sum(n for status, n in tally.statuses.items() if not 200 <= status < 300)
    return LoadResult(
        requests=len(latencies), errors=tally.errors + bad, seconds=seconds,
        rps=len(latencies) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000, p90_ms=percentile(latencies, 0.90) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000, max_ms=(latencies[-1] * 1000 if latencies else 0.0),
        statuses={str(status): n for status, n in sorted(tally.statuses.items())}, client_cpu=client_cpu,
        completed=tally.completed,
    )


async def generate(spec: LoadSpec) -> LoadResult:
    """Run the load described by spec and return what completed in the window after warm-up."""
    started, cpu = perf_counter(), process_time()
    tally = Tally(start=started + spec.warmup, end=started + spec.warmup + spec.duration)
    request = build_request(spec)
    await asyncio.gather(*(_drive(spec, request, tally) for _ in range(spec.connections)))
    return summarise(tally, client_cpu=(process_time() - cpu) / (perf_counter() - started))


def _loop_factory():
    """Return uvloop's event loop factory when installed, else None (the default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(spec: LoadSpec) -> LoadResult:
    """Run generate() on a fresh event loop."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(generate(spec))


def _parse(argv: list[str]) -> LoadSpec:
    """Return the load spec the command line describes."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/health")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="extra request header, repeatable")
    args = parser.parse_args(argv)
    headers = tuple(_header(text) for text in args.header)
    return LoadSpec(port=args.port, path=args.path, method=args.method.upper(), body=args.body,
                    connections=args.connections, duration=args.duration, warmup=args.warmup, headers=headers)


def _header(text: str) -> tuple[str, str]:
    """Split "Name: value" into its name and value."""
    name, separator, value = text.partition(":")
    if not separator or not name.strip():
        raise SystemExit(f"--header needs 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    """Run one load and print its result as JSON."""
    result = run(_parse(sys.argv[1:] if argv is None else argv))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
