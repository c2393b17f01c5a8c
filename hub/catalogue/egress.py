"""A source's egress: what its connector reaches, and whether its department's rules (hub.egress) open it.

Whether a source is approved is computed from the rules whenever it is needed (nothing stored can go stale): a
source with a target no rule approves is pending review and is never contacted, not even resolved, until a rule
approves it; deleting the rule puts it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import connectors
from connectors import ConnectorConfigError, Target
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.catalogue.models import ConnectorSpec, EgressOut, EgressTarget, Health
from hub.catalogue.secrets import without_envelope
from hub.catalogue.tables import Source
from hub.core.errors import HubError
from hub.egress.rules import TargetRefused, department_rules, rules_by_department

PENDING_DETAIL = "pending review: a connector target awaits the operator's approval; not contacted"


class SourcePendingReview(HubError):
    status, code, title = 409, "source_pending_review", "The source's connector target awaits the operator's approval"


class EgressBlocked(HubError):
    status, code, title = 403, "egress_refused", "The hub refused to connect to the source's target"


@dataclass(frozen=True)
class EgressState:
    """A source's targets, those its department's rules approve, and what that makes of it."""

    status: str  # approved | pending_review | none (a bulk source: no target)
    targets: tuple[Target, ...] = ()
    approved: frozenset[Target] = frozenset()

    @property
    def pending(self) -> bool:
        return self.status == "pending_review"


def egress_state(type_: str, config: dict, rules: frozenset[str]) -> EgressState:
    """What a connector config (as given, or as stored: sealed) reaches and whether the rules (canonical targets)
    approve all of it."""
    try:
        targets = connectors.targets(type_, without_envelope(config))
    except ConnectorConfigError:  # a stored config the grammar no longer takes is never contacted
        return EgressState("pending_review")
    if not targets:
        return EgressState("none")
    approved = frozenset(t for t in targets if str(t) in rules)
    return EgressState("approved" if len(approved) == len(targets) else "pending_review", targets, approved)


def source_egress(session: Session, source: Source) -> EgressState:
    """A source's egress state, from its owner's rules now."""
    return egress_state(source.connector_type, source.connector_config, department_rules(session, source.department_id))


def egress_out(state: EgressState, *, with_targets: bool) -> EgressOut:
    """A source's egress state; its targets (hosts and ports) only for those who may see its connector."""
    targets = state.targets if with_targets else ()
    return EgressOut(status=state.status, targets=[EgressTarget(target=str(t), approved=t in state.approved)
                                                   for t in targets])


async def admitted_health(session: Session, source_id: str, spec: ConnectorSpec, *, department_id: str,
                          fields: Sequence[str], connections, now: datetime) -> Health:
    """Validate a connector, refuse targets no rule opens, and check its health only once every target is approved.

    A target no rule approves is neither contacted nor resolved, so registering sources cannot probe the network.
    A SQL template returning a column not among `fields` is a 422.
    """
    # a bad config is a 422 naming the key; nothing is contacted
    await connections.build(source_id, spec, fields=fields).aclose()
    rules = await run_in_threadpool(department_rules, session, department_id)
    state = egress_state(spec.type, spec.config, rules)
    for target in state.targets:
        _refuse(connections.guard.refusal(target))
    if state.pending:
        return Health(status="unknown", detail=PENDING_DETAIL, checked_at=now)
    for target in state.targets:
        _refuse(await run_in_threadpool(connections.guard.refusal, target, resolved=True))
    connector = connections.build(source_id, spec, approved=state.approved, fields=fields)
    try:
        return await connections.check_new(connector, now=now, source_id=source_id)
    finally:
        await connector.aclose()


def _refuse(reason: str | None) -> None:
    if reason:
        raise TargetRefused(f"connector.config: {reason}; no egress rule can open it.")


def pending_sources(session: Session) -> list[tuple[Source, EgressState]]:
    """The sources awaiting review, with the targets they need."""
    rules = rules_by_department(session)
    found = []
    for source in session.scalars(select(Source).where(Source.connector_type != "bulk").order_by(Source.id)):
        state = egress_state(source.connector_type, source.connector_config, rules.get(source.department_id,
                                                                                      frozenset()))
        if state.pending:
            found.append((source, state))
    return found
