"""What one benchmark run measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.issuance import IssueResult
from bench.loadgen import LoadResult
from bench.offline import OfflineRates, QRSize


@dataclass(frozen=True)
class HttpRow:
    """POST /verify and GET /health against one server configuration."""

    workers: int
    connections: int
    verify: LoadResult
    health: LoadResult

    @property
    def ratio(self) -> float:
        """Return /verify throughput as a fraction of /health throughput."""
        return self.verify.rps / self.health.rps if self.health.rps else 0.0


@dataclass(frozen=True)
class IssueRow:
    """POST /licenses on one database backend with some number of clients."""

    backend: str
    result: IssueResult


@dataclass
class Results:
    """Everything measured, plus notes on what was skipped or went wrong."""

    qr: QRSize | None = None
    offline: OfflineRates | None = None
    http: list[HttpRow] = field(default_factory=list)
    issuance: list[IssueRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    environment: str = ""
