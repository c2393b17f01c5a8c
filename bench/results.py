"""What one benchmark run measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.bulk_import import ImportRate
from bench.issuance import IssueResult
from bench.loadgen import LoadResult
from bench.offline import OfflineRates, QRSize


@dataclass(frozen=True)
class EndpointLoad:
    """One endpoint's load result and the CPU time the server spent meanwhile."""

    load: LoadResult
    server_cpu: float | None  # seconds, all server processes, warm-up included; None without /proc

    @property
    def cpu_us_per_request(self) -> float | None:
        """Return server CPU microseconds per request, which other processes on the machine hardly disturb."""
        if self.server_cpu is None or not self.load.completed:
            return None
        return self.server_cpu / self.load.completed * 1e6


@dataclass(frozen=True)
class HttpRow:
    """POST /verify and GET /health against one server configuration, and the baseline app's on the same one."""

    workers: int
    connections: int
    verify: EndpointLoad
    health: EndpointLoad
    baseline_verify: EndpointLoad  # bench/baseline.py: POST /verify of the same QR
    baseline_get: EndpointLoad  # bench/baseline.py: GET / answering {}

    @property
    def ratio(self) -> float:
        """Return /verify throughput as a fraction of /health throughput."""
        return _over(self.verify.load.rps, self.health.load.rps)

    @property
    def verify_vs_baseline(self) -> float:
        """Return the hub's POST /verify throughput as a multiple of the baseline's."""
        return _over(self.verify.load.rps, self.baseline_verify.load.rps)

    @property
    def p99_vs_baseline(self) -> float:
        """Return the hub's POST /verify p99 latency as a multiple of the baseline's."""
        return _over(self.verify.load.p99_ms, self.baseline_verify.load.p99_ms)

    @property
    def health_vs_baseline(self) -> float:
        """Return the hub's GET /health throughput as a multiple of the baseline's trivial GET."""
        return _over(self.health.load.rps, self.baseline_get.load.rps)


def _over(value: float, reference: float) -> float:
    return value / reference if reference else 0.0


@dataclass(frozen=True)
class IssueRow:
    """POST /licenses on one database backend with some number of clients."""

    backend: str
    result: IssueResult
    server_cpu: float | None = None  # seconds, whole run; None without /proc

    @property
    def cpu_ms_per_license(self) -> float | None:
        """Return server CPU milliseconds per license issued."""
        if self.server_cpu is None or not self.result.issued:
            return None
        return self.server_cpu / self.result.issued * 1000


@dataclass(frozen=True)
class ExchangeRow:
    """POST /exchange/{id}/query through one hub configuration, and the same read sent straight to the source."""

    backend: str
    workers: int
    connections: int
    hub: EndpointLoad  # at `connections`
    direct: EndpointLoad  # the source alone, same connections, same run
    hub_unloaded: EndpointLoad  # 1 connection: the cleanest overhead figure
    direct_unloaded: EndpointLoad

    @property
    def overhead_ms(self) -> tuple[float, float]:
        """Return hub p50 and p99 minus direct p50 and p99 under load, in milliseconds."""
        return _minus(self.hub.load, self.direct.load)

    @property
    def unloaded_overhead_ms(self) -> tuple[float, float]:
        """Return hub p50 and p99 minus direct p50 and p99 with one connection, in milliseconds."""
        return _minus(self.hub_unloaded.load, self.direct_unloaded.load)


def _minus(hub: LoadResult, direct: LoadResult) -> tuple[float, float]:
    return hub.p50_ms - direct.p50_ms, hub.p99_ms - direct.p99_ms


@dataclass
class Results:
    """Everything measured, plus notes on what was skipped or went wrong."""

    qr: QRSize | None = None
    offline: OfflineRates | None = None
    http: list[HttpRow] = field(default_factory=list)
    issuance: list[IssueRow] = field(default_factory=list)
    exchange: list[ExchangeRow] = field(default_factory=list)
    bulk_import: ImportRate | None = None
    notes: list[str] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # (measurement, setup, result) rows
    environment: str = ""
