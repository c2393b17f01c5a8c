"""The one small protocol every connector implements, its health answer and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Health:
    """Whether a source answers, what it said, how long it took, and (when not ok) the failure as an error."""

    ok: bool
    detail: str
    latency_ms: float
    error: ConnectorError | None = None


@runtime_checkable
class Connector(Protocol):
    """Reach one department system: read one subject's record, probe it, release it."""

    async def fetch(self, subject: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """Return the requested fields of the subject's record (absent keys left out), or None when there is none."""

    async def health(self) -> Health:
        """Probe the source without raising."""

    async def aclose(self) -> None:
        """Release pooled connections."""


class ConnectorError(Exception):
    """A connector failure with a snake_case machine code and a bilingual message.

    `outcome` is all a caller may tell others about a failure to reach a source: "unreachable", "refused" or
    "timeout". The message is detail for the operator: it can tell a closed port from an HTTP error.
    """

    code: str = "connector_error"
    title: str = "connector error (连接器错误)"
    outcome: str = "unreachable"

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__(f"{self.title}: {reason}" if reason else self.title)


class SourceUnavailable(ConnectorError):
    """The source cannot give a usable answer now (refused, 5xx, garbage, circuit open, SQL error)."""

    code = "source_unavailable"
    title = "data source unavailable (数据源不可用)"


class SourceRefused(SourceUnavailable):
    """The source answered but the query was refused: a database error, a write, an account the hub will not use."""

    outcome = "refused"


class AccountRefused(SourceRefused):
    """The database account has more privilege than reading a source needs; the hub will not query through it."""

    code = "source_account_refused"
    title = "database account refused (数据库账号权限过大)"


class SourceTimeout(ConnectorError):
    """The source did not answer within the connector's timeout."""

    code = "source_timeout"
    title = "data source timed out (数据源响应超时)"
    outcome = "timeout"


class ConnectorConfigError(ConnectorError):
    """A connector's configuration is not valid; the message names the bad key."""

    code = "connector_config_invalid"
    title = "invalid connector configuration (连接器配置无效)"
    outcome = "refused"


class ImportFormatError(ConnectorError):
    """An import file is not the declared format at all; nothing was written."""

    code = "import_format_invalid"
    title = "import file is not in the declared format (导入文件格式无效)"


class ImportTooLarge(ImportFormatError):
    """An import file expands past one of the caps in `connectors.limits` (`limit` names it); nothing was written."""

    code = "import_too_large"
    title = "import file too large once expanded (导入文件展开后过大)"

    def __init__(self, reason: str, *, limit: str, maximum: int) -> None:
        super().__init__(reason)
        self.limit = limit
        self.maximum = maximum


class ImportInterrupted(ConnectorError):
    """The database refused a batch mid-import; the batches before it are kept (`report` says how many rows)."""

    code = "import_interrupted"
    title = "import interrupted by the database (导入中断)"

    def __init__(self, reason: str, report: Any = None) -> None:
        super().__init__(reason)
        self.report = report


def pick(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Return only the requested fields that the record has."""
    return {name: record[name] for name in fields if name in record}
