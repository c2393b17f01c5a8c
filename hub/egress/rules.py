"""Egress rules: the connector targets the operator approved for each department, and what they open.

A REST or SQL source reaches only targets approved for the department that owns it (hub.catalogue.egress applies
these rules to sources). Some targets no rule opens (connectors.EgressGuard): the hub itself, its own database,
SQLite files outside HUB_SQLITE_SOURCES_DIR, link-local, metadata, unspecified and multicast addresses.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from connectors import ConnectorConfigError, EgressGuard, Target, parse_target
from connectors.targets import POSTGRESQL_PORT, canonical_host
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.audit.service import AuditEvent, TransactionSink
from hub.core.errors import Conflict, HubError, NotFound, ValidationFailed
from hub.core.settings import Settings
from hub.departments.models import Owner
from hub.departments.tables import Department
from hub.egress.models import EgressRuleOut
from hub.egress.tables import EgressRule


class TargetRefused(HubError):
    status, code, title = 422, "target_refused", "The hub never connects to this target"


def hub_guard(settings: Settings) -> EgressGuard:
    """The hub's egress policy, approving nothing yet: its own endpoints, database and SQLite directory."""
    public = urlsplit(settings.public_url)
    endpoints = [("127.0.0.1", settings.port), ("::1", settings.port)]  # where `hub serve` listens
    if public.hostname:
        endpoints.append((canonical_host(public.hostname), public.port or {"https": 443}.get(public.scheme, 80)))
    database = make_url(settings.resolved_database_url())
    files, databases = (), ()
    if database.drivername.startswith("sqlite"):
        files = (str(Path(database.database or "").resolve()),)  # relative to the working directory, as opened
    else:  # no host: libpq's Unix socket, on this machine
        databases = (Target("postgresql", canonical_host(database.host or "localhost"),
                            database.port or POSTGRESQL_PORT, database.database or ""),)
    return EgressGuard(approved=frozenset(), own_endpoints=tuple(endpoints), own_databases=databases,
                       own_files=files, sqlite_dir=str(settings.resolved_sqlite_sources_dir()))


def department_rules(session: Session, department_id: str) -> frozenset[str]:
    """The targets approved for one department."""
    return frozenset(session.scalars(select(EgressRule.target).where(EgressRule.department_id == department_id)))


def rules_by_department(session: Session) -> dict[str, frozenset[str]]:
    """Every department's approved targets."""
    found: dict[str, set[str]] = {}
    for department_id, target in session.execute(select(EgressRule.department_id, EgressRule.target)):
        found.setdefault(department_id, set()).add(target)
    return {key: frozenset(value) for key, value in found.items()}


def allow_target(session: Session, department_code: str, text: str, *, guard: EgressGuard, actor: str,
                 pepper: bytes, now: datetime) -> EgressRule:
    """Approve a target for a department's connectors (the operator); audited."""
    department = session.scalar(select(Department).where(Department.code == department_code))
    if department is None:
        raise ValidationFailed(f"No department with code {department_code}.")
    try:
        target = parse_target(text)
    except ConnectorConfigError as exc:
        raise ValidationFailed(f"target: {exc.reason}") from None
    reason = guard.refusal(target, resolved=True)
    if reason:
        raise TargetRefused(f"{reason}; no egress rule can open it.")
    if str(target) in department_rules(session, department.id):
        raise Conflict(f"{target} is already approved for {department.code}.")
    rule = EgressRule(department_id=department.id, target=str(target), created_at=now, created_by=actor)
    session.add(rule)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent approval of the same target won
        raise Conflict(f"{target} is already approved for {department.code}.") from exc
    _audit(session, "egress.allowed", rule, department, actor=actor, pepper=pepper, now=now)
    return rule


def revoke_rule(session: Session, rule_id: str, *, actor: str, pepper: bytes, now: datetime) -> EgressRule:
    """Delete a rule; the sources that needed it are pending review again at once. Audited."""
    rule = session.get(EgressRule, rule_id) if re.fullmatch(r"[0-9a-f]{32}", rule_id) else None
    if rule is None:
        raise NotFound("No such egress rule.")
    department = session.get(Department, rule.department_id)
    session.delete(rule)
    session.flush()
    _audit(session, "egress.revoked", rule, department, actor=actor, pepper=pepper, now=now)
    return rule


def _audit(session: Session, kind: str, rule: EgressRule, department: Department, *, actor: str, pepper: bytes,
           now: datetime) -> None:
    TransactionSink(session, pepper).append([AuditEvent(kind=kind, actor=actor, subject=None, data={
        "rule_id": rule.id, "department_code": department.code, "target": rule.target})], now=now)


def list_rules(session: Session, *, department_code: str | None = None) -> list[EgressRule]:
    """The rules, by department and target; optionally one department's."""
    query = select(EgressRule).join(Department, Department.id == EgressRule.department_id) \
        .order_by(Department.code, EgressRule.target)
    if department_code:
        query = query.where(Department.code == department_code)
    return list(session.scalars(query))


def rule_out(session: Session, rule: EgressRule) -> EgressRuleOut:
    department = session.get(Department, rule.department_id)
    return EgressRuleOut(id=rule.id, department=Owner(code=department.code, name=department.name), target=rule.target,
                         created_at=rule.created_at, created_by=rule.created_by)


def department_code(session: Session, department_id: str) -> str:
    return session.get(Department, department_id).code
