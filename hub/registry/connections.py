"""Live connectors to department systems: one per source, rebuilt when its definition changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import connectors
import orjson
from connectors import ConnectorConfigError, EgressGuard, EgressRefused, SourceTimeout, SourceUnavailable, Target

from hub.core.errors import BadGateway, GatewayTimeout, ValidationFailed
from hub.registry.egress import EgressBlocked
from hub.registry.source_models import ConnectorSpec, Health

log = logging.getLogger("hub.connections")
HEALTH_TIMEOUT = 5.0


class Connections:
    """The hub's connectors, keyed by source id, connector spec and approved targets; each gets the egress guard."""

    def __init__(self, engine, guard: EgressGuard | None = None) -> None:
        self._engine = engine
        self.guard = guard or EgressGuard(approved=frozenset())
        self._live: dict[str, tuple[tuple[str, bytes], Any]] = {}
        self._retired: list[Any] = []

    def build(self, source_id: str, spec: ConnectorSpec, approved: frozenset[Target] = frozenset()):
        """Validate a connector spec by building it (nothing is contacted); a bad config is a 422 naming the problem.

        The connector may reach only the `approved` targets, and never what the hub's guard refuses.
        """
        try:
            return connectors.build(spec.type, spec.config, engine=self._engine, source_id=source_id,
                                    egress=self.guard.approving(approved))
        except ConnectorConfigError as exc:
            raise ValidationFailed(f"connector.config: {exc}") from None

    def get(self, source_id: str, type_: str, config: dict, approved: frozenset[Target] = frozenset()):
        """The live connector of a source, built on first use and again whenever its spec or approval changes."""
        version = (type_, orjson.dumps(config, option=orjson.OPT_SORT_KEYS), tuple(sorted(approved)))
        live = self._live.get(source_id)
        if live is not None and live[0] == version:
            return live[1]
        connector = self.build(source_id, ConnectorSpec(type=type_, config=config), approved)
        self._live[source_id] = (version, connector)
        if live is not None:  # often called from a worker thread: close it later, from the event loop
            self._retired.append(live[1])
        return connector

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

    async def fetch(self, connector, subject: str, fields: Sequence[str]) -> dict | None:
        """Fetch through a connector; failures become 502/504 problems with no internals in them."""
        try:
            return await connector.fetch(subject, list(fields))
        except SourceTimeout as exc:
            raise GatewayTimeout(f"The source did not answer in time: {exc}") from None
        except SourceUnavailable as exc:
            raise BadGateway(f"The source is unavailable: {exc}") from None
        except EgressRefused as exc:
            log.warning("egress refused for a source: %s", exc.reason)
            raise EgressBlocked("The hub refused to connect to the source's target: "
                                f"{exc.reason}. Its operator decides what connectors may reach.") from None

    async def check(self, connector, *, now: datetime) -> Health:
        """Run a connector's health check, bounded in time; never raises."""
        try:
            result = await asyncio.wait_for(connector.health(), HEALTH_TIMEOUT)
            return Health(status="ok" if result.ok else "down", detail=result.detail, checked_at=now)
        except asyncio.TimeoutError:
            return Health(status="down", detail=f"no answer within {HEALTH_TIMEOUT:.0f} s", checked_at=now)
        except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
            return Health(status="down", detail=str(exc)[:200] or exc.__class__.__name__, checked_at=now)

    async def aclose(self) -> None:
        live, self._live = self._live, {}
        await self.close_retired()
        for _, connector in live.values():
            await self._close(connector)


def redact(type_: str, config: dict) -> dict:
    """A connector config fit to show: secrets replaced by ***."""
    return connectors.redact(type_, config)
