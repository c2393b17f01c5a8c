"""Live connectors to department systems: one per source, rebuilt when its definition changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import connectors
import orjson
from connectors import AccountRefused, ConnectorConfigError, EgressGuard, EgressRefused, SourceTimeout, SourceUnavailable
from connectors import Health as Probe
from connectors import Target

from hub.core.errors import BadGateway, GatewayTimeout, ValidationFailed
from hub.core.sealed import SealError
from hub.catalogue.egress import EgressBlocked
from hub.catalogue.secrets import ConnectorSecrets, public_config
from hub.catalogue.models import ConnectorSpec, Health

log = logging.getLogger("hub.connections")
HEALTH_TIMEOUT = 5.0
# All a department learns of a failed source: what the connector said goes to this logger, for the operator.
# One word per outcome, so a health check or a query cannot tell a closed port, another service and an HTTP error apart.
OUTCOMES = {"unreachable": "无法连接 unreachable", "refused": "拒绝访问 refused", "timeout": "响应超时 timeout"}
HEALTHY = "正常 ok"


class Connections:
    """The hub's connectors, keyed by source id, connector spec and approved targets; each gets the egress guard."""

    def __init__(self, engine, guard: EgressGuard | None = None, *, secrets: ConnectorSecrets | None = None) -> None:
        self._engine = engine
        self.guard = guard or EgressGuard(approved=frozenset())
        self.secrets = secrets
        self._live: dict[str, tuple[tuple, Any]] = {}
        self._retired: list[Any] = []

    def build(self, source_id: str, spec: ConnectorSpec, approved: frozenset[Target] = frozenset(), *,
              fields: Sequence[str] | None = None):
        """Validate a connector spec by building it (nothing is contacted); a bad config (or a SQL template
        returning a column not in `fields`) is a 422 naming the problem.

        The connector may reach only the `approved` targets, and never what the hub's guard refuses.
        """
        try:
            return connectors.build(spec.type, spec.config, engine=self._engine, source_id=source_id, fields=fields,
                                    egress=self.guard.approving(approved))
        except ConnectorConfigError as exc:
            raise ValidationFailed(f"connector.config: {exc}") from None

    def get(self, source_id: str, type_: str, config: dict, approved: frozenset[Target] = frozenset()):
        """The live connector of a stored source (secrets opened here), rebuilt whenever its stored config or its
        approval changes.

        A stored config that no longer builds is the owner's problem: the caller gets 502 "refused", the log why.
        """
        version = (type_, orjson.dumps(config, option=orjson.OPT_SORT_KEYS), tuple(sorted(approved)))
        live = self._live.get(source_id)
        if live is not None and live[0] == version:
            return live[1]
        try:
            plain = self.secrets.open(source_id, config) if self.secrets else config
            connector = self.build(source_id, ConnectorSpec(type=type_, config=plain), approved)
        except (SealError, ValidationFailed) as exc:
            log.warning("source %s: its stored connector cannot be built: %s", source_id, exc)
            raise BadGateway(OUTCOMES["refused"]) from None
        self._live[source_id] = (version, connector)
        if live is not None:  # often called from a worker thread: close it later, from the event loop
            self._retired.append(live[1])
        return connector

    def open_config(self, source_id: str, stored: dict) -> dict:
        """A stored connector config with its secrets (to merge an edit that sent back ***); {} if they cannot be
        opened, so that such an edit must give its secrets again."""
        try:
            return self.secrets.open(source_id, stored) if self.secrets else dict(stored)
        except SealError as exc:
            log.warning("source %s: its stored connector secrets cannot be opened: %s", source_id, exc)
            return {}

    async def close_retired(self) -> None:
        """Close connectors replaced since the last call (their pools, their breakers)."""
        retired, self._retired = self._retired, []
        for connector in retired:
            await self._close(connector)

    async def _close(self, connector) -> None:
        try:
            await connector.aclose()
        except Exception:  # noqa: BLE001
            log.warning("could not close a connector cleanly")

    async def fetch(self, connector, subject: str, fields: Sequence[str], *, source_id: str = "") -> dict | None:
        """Fetch through a connector; failures become 502/504 problems saying one word, the detail goes to the log."""
        try:
            return await connector.fetch(subject, list(fields))
        except (SourceTimeout, SourceUnavailable) as exc:
            log.warning("source %s query failed (%s): %s", source_id, exc.outcome, exc)
            problem = GatewayTimeout if exc.outcome == "timeout" else BadGateway
            raise problem(OUTCOMES[exc.outcome]) from None
        except EgressRefused as exc:
            log.warning("source %s: egress refused at connect time: %s", source_id, exc.reason)
            raise EgressBlocked(f"{OUTCOMES['refused']}: the hub does not connect to this source's target; "
                                "its operator decides what connectors may reach.") from None

    async def check(self, connector, *, now: datetime, source_id: str = "") -> Health:
        """Run a connector's health check, bounded in time; never raises. Failures say one word, the log why."""
        return self._health(await self._probe(connector), now=now, source_id=source_id)

    async def check_new(self, connector, *, now: datetime, source_id: str) -> Health:
        """Check a connector about to be stored: as check(), but an account the hub refuses to use is a 422."""
        probe = await self._probe(connector)
        if isinstance(probe.error, AccountRefused):
            raise ValidationFailed(f"connector.config.url: {probe.error.reason}")
        return self._health(probe, now=now, source_id=source_id)

    async def _probe(self, connector) -> Probe:
        try:
            return await asyncio.wait_for(connector.health(), HEALTH_TIMEOUT)
        except asyncio.TimeoutError:
            return Probe(False, "", 0.0, SourceTimeout(f"no health answer within {HEALTH_TIMEOUT:.0f} s"))
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            return Probe(False, "", 0.0, SourceUnavailable(f"health check failed ({exc.__class__.__name__}: {exc})"))

    def _health(self, probe: Probe, *, now: datetime, source_id: str) -> Health:
        if probe.ok:
            return Health(status="ok", detail=HEALTHY, checked_at=now)
        error = probe.error or SourceUnavailable(probe.detail)
        log.warning("source %s health check failed (%s): %s", source_id, error.outcome, error)
        return Health(status="down", detail=OUTCOMES.get(error.outcome, OUTCOMES["unreachable"]), checked_at=now)

    async def aclose(self) -> None:
        live, self._live = self._live, {}
        await self.close_retired()
        for _, connector in live.values():
            await self._close(connector)


def redact(type_: str, config: dict) -> dict:
    """A stored connector config fit to show its owner and the operator: secrets replaced by ***."""
    return public_config(type_, config)
