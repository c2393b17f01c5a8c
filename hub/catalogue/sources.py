"""The catalogue: register, read and health-record data sources; load definitions from YAML."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

import connectors
from connectors import ConnectorConfigError

from hub.audit.service import AuditEvent, TransactionSink
from hub.auth.tokens import Principal
from hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.catalogue import secrets  # noqa: F401 - its flush hook seals the connector secrets of every source written
from hub.catalogue.egress import admitted_health, egress_out, source_egress
from hub.catalogue.models import ConnectorSpec, Health, SourceCreate, SourceDefinition, SourceOut
from hub.catalogue.tables import Source
from hub.core.idempotency import body_hash, remember, replayed
from hub.departments.models import Owner
from hub.departments.service import require_department
from hub.departments.tables import Department


class SourceDefinitionError(Exception):
    """A source definition file is broken; the message names the file and the field."""


async def register_checked(session: Session, request: SourceCreate, *, principal: Principal, connections,
                           now: datetime, idempotency_key: str | None = None) -> tuple[Source, bool]:
    """Validate the connector, check its health (approved targets only) and register it; returns (source, created)."""
    digest = body_hash(request)
    known = await run_in_threadpool(replayed, session, client_id=principal.client_id, key=idempotency_key,
                                    operation="source", digest=digest)
    if known is not None:
        return await run_in_threadpool(get_source, session, known), False
    department = await run_in_threadpool(require_department, session, principal)
    health = await admitted_health(session, request.id, request.connector, department_id=department.id,
                                   fields=[f.name for f in request.fields], connections=connections, now=now)

    def register() -> Source:
        source = register_source(session, request, department=department, health=health, now=now)
        _audit_change(session, "source.registered", source, department=department, changed=[], now=now)
        remember(session, client_id=principal.client_id, key=idempotency_key, operation="source", digest=digest,
                 resource_id=source.id, now=now)
        return source

    return await run_in_threadpool(register), True


async def update_checked(session: Session, source_id: str, request: SourceCreate, *, principal: Principal,
                         connections, now: datetime) -> Source:
    """Replace a source's definition (its owner only): the connector is validated and health-checked first.

    The id and the subject key stay: grants and consents are about this source and subjects of that kind.
    Secrets shown as *** by GET may be sent back as they are to keep them.
    """
    if request.id != source_id:
        raise ValidationFailed(f"The body's id {request.id!r} is not the source's id {source_id!r}.")
    source = await run_in_threadpool(get_source, session, source_id)
    department = await run_in_threadpool(require_department, session, principal)
    if source.department_id != department.id:
        raise Forbidden("Only the department that owns the source changes it.")
    if request.subject_key != source.subject_key:
        raise ValidationFailed(f"subject_key stays {source.subject_key}: grants and consents are about its subjects.")
    stored = connections.open_config(source.id, source.connector_config)
    try:
        config = connectors.keep_secrets(request.connector.type, dict(request.connector.config),
                                         stored if request.connector.type == source.connector_type else {})
    except ConnectorConfigError as exc:
        raise ValidationFailed(f"connector.config: {exc.reason}") from None
    request = request.model_copy(update={"connector": ConnectorSpec(type=request.connector.type, config=config)})
    health = await admitted_health(session, source_id, request.connector, department_id=department.id,
                                   fields=[f.name for f in request.fields], connections=connections, now=now)

    def update() -> Source:
        before = _definition(source, stored)
        _apply(source, request, health)
        source.updated_at = now
        after = _definition(source, source.connector_config)  # still plain: the flush seals it
        changed = sorted(k for k, v in after.items() if before[k] != v)
        _audit_change(session, "source.updated", source, department=department, changed=changed, now=now)
        return source

    return await run_in_threadpool(update)


def _definition(source: Source, config: dict) -> dict:
    return {"name": source.name, "category": source.category, "description": source.description,
            "sharing_class": source.sharing_class, "update_frequency": source.update_frequency,
            "fields": source.fields, "connector": [source.connector_type, config]}


def _audit_change(session: Session, kind: str, source: Source, *, department: Department, changed: list[str],
                  now: datetime) -> None:
    """Catalogue changes are in the audit log: who registered or changed which source, and what changed."""
    TransactionSink(session).append([AuditEvent(kind=kind, actor=department.code, subject=None, data={
        "source_id": source.id, "source_name": source.name, "sharing_class": source.sharing_class,
        "changed": changed})], now=now)


def register_source(session: Session, request: SourceCreate, *, department: Department, health: Health,
                    now: datetime) -> Source:
    """Add a source owned by the department; its connector config was validated by the caller."""
    if session.get(Source, request.id) is not None:
        raise Conflict(f"A data source with id {request.id!r} already exists.")
    source = Source(id=request.id, department_id=department.id, created_at=now, updated_at=now)
    _apply(source, request, health)
    session.add(source)
    session.flush()
    return source


def upsert_definition(session: Session, definition: SourceDefinition, *, department: Department, health: Health,
                      now: datetime) -> tuple[Source, bool]:
    """Create or update a source from a definition file; returns (source, created)."""
    source = session.get(Source, definition.id)
    if source is None:
        return register_source(session, definition, department=department, health=health, now=now), True
    if source.department_id != department.id:
        raise Conflict(f"Source {definition.id!r} belongs to another department.")
    _apply(source, definition, health)
    source.updated_at = now
    return source, False


def _apply(source: Source, request: SourceCreate, health: Health) -> None:
    source.name, source.category, source.description = request.name, request.category, request.description
    source.subject_key, source.sharing_class = request.subject_key, request.sharing_class
    source.update_frequency = request.update_frequency
    source.fields = [f.model_dump() for f in request.fields]
    source.connector_type, source.connector_config = request.connector.type, dict(request.connector.config)
    record_health(source, health)


def record_health(source: Source, health: Health) -> None:
    """Store the outcome of a health check on the source row."""
    source.health, source.health_detail = health.status, health.detail[:300]
    source.health_checked_at = health.checked_at


def get_source(session: Session, source_id: str) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"No data source {source_id!r} in the catalogue.")
    return source


def list_sources(session: Session, *, category: str | None = None, owner: str | None = None) -> list[Source]:
    """Return the catalogue, optionally by category or owning department code."""
    query = select(Source).order_by(Source.id)
    if category:
        query = query.where(Source.category == category)
    if owner:
        query = query.join(Department, Department.id == Source.department_id).where(Department.code == owner)
    return list(session.scalars(query))


def source_out(session: Session, source: Source, *, redact, viewer: Principal) -> SourceOut:
    """The catalogue entry of a source; its connector (secrets redacted) and its targets only for the owner and the
    operator."""
    owner = session.get(Department, source.department_id)
    connector = None
    entitled = viewer.is_operator or viewer.department_id == source.department_id
    if entitled:
        connector = {"type": source.connector_type, "config": redact(source.connector_type, source.connector_config)}
    return SourceOut(
        id=source.id, name=source.name, category=source.category, description=source.description,
        owner=Owner(code=owner.code, name=owner.name), subject_key=source.subject_key,
        sharing_class=source.sharing_class, update_frequency=source.update_frequency, fields=source.fields,
        connector=connector,
        health=Health(status=source.health, detail=source.health_detail, checked_at=source.health_checked_at),
        egress=egress_out(source_egress(session, source), with_targets=entitled),
        created_at=source.created_at, updated_at=source.updated_at,
    )


def load_definitions(directory: Path) -> list[SourceDefinition]:
    """Read every schemas/sources/*.yaml; a broken file raises SourceDefinitionError naming file and field."""
    definitions = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            definitions.append(SourceDefinition.model_validate(raw))
        except yaml.YAMLError as exc:
            raise SourceDefinitionError(f"{path}: not valid YAML ({exc})") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
            raise SourceDefinitionError(f"{path}: {problems}") from None
    return definitions
