"""Periodic health checks of every registered source, recorded on the catalogue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hub.core.errors import HubError
from hub.catalogue.connections import Connections
from hub.catalogue.egress import PENDING_DETAIL, egress_state
from hub.egress.rules import rules_by_department
from hub.catalogue.models import Health
from hub.catalogue.sources import record_health
from hub.catalogue.tables import Source

log = logging.getLogger("hub.health")


async def check_sources(session_factory, connections: Connections, *, now: Callable[[], datetime]) -> dict[str, str]:
    """Check every source once (concurrently) and store the results; returns {source id: status}.

    A source pending review is not contacted: it is recorded as unknown.
    """
    rows = await run_in_threadpool(_definitions, session_factory)
    approved = [row for row in rows if not row[3].pending]
    results = await asyncio.gather(*(_check_one(connections, *row, now=now()) for row in approved))
    outcome = {row[0]: result for row, result in zip(approved, results, strict=True)}
    outcome |= {row[0]: Health(status="unknown", detail=PENDING_DETAIL, checked_at=now())
                for row in rows if row[3].pending}
    await run_in_threadpool(_store, session_factory, outcome)
    await connections.close_retired()
    return {k: v.status for k, v in outcome.items()}


async def _check_one(connections: Connections, source_id: str, type_: str, config: dict, egress, *,
                     now: datetime) -> Health:
    try:
        connector = connections.get(source_id, type_, config, egress.approved)
    except HubError as exc:  # a stored connector that no longer builds: logged by get(), one word here
        return Health(status="down", detail=exc.detail, checked_at=now)
    return await connections.check(connector, now=now, source_id=source_id)


def _definitions(session_factory) -> list[tuple]:
    """(id, connector type, config, egress state) of every source."""
    with session_factory() as session:
        rules = rules_by_department(session)
        return [(s_id, type_, config, egress_state(type_, config, rules.get(department_id, frozenset())))
                for s_id, type_, config, department_id in session.execute(
                    select(Source.id, Source.connector_type, Source.connector_config, Source.department_id))]


def _store(session_factory, outcome: dict) -> None:
    with session_factory.begin() as session:
        for source_id, health in outcome.items():
            source = session.get(Source, source_id)
            if source is not None:
                record_health(source, health)


async def health_loop(session_factory, connections: Connections, *, interval: float,
                      now: Callable[[], datetime]) -> None:
    """Check all sources soon after start, then every `interval` seconds, until cancelled."""
    delay = min(2.0, interval)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            await check_sources(session_factory, connections, now=now)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failed round is logged; the next one tries again
            log.exception("source health check round failed")
