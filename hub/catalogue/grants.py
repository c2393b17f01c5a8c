"""Grants: a department asks to read fields of a source for a purpose; the owner decides.

Unconditional sources are granted at once; conditional ones wait for the owner; not-shared ones are refused.
Every decision is appended to the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.audit.service import AuditEvent, TransactionSink
from hub.auth.tokens import Principal
from hub.core.errors import Conflict, Forbidden, HubError, NotFound, ValidationFailed
from hub.core.idempotency import create_once
from hub.catalogue.egress import EgressState, egress_state
from hub.egress.rules import department_rules
from hub.catalogue.models import GrantCreate, GrantOut, normalise_purpose
from hub.departments.models import Owner
from hub.catalogue.sources import get_source
from hub.departments.service import require_department
from hub.catalogue.tables import Grant, Source
from hub.departments.tables import Department


class SourceNotShared(HubError):
    status, code, title = 403, "source_not_shared", "This data source is not shared (不予共享)"


def request_grant(session: Session, body: GrantCreate, *, principal: Principal, pepper: bytes, now: datetime,
                  idempotency_key: str | None = None) -> tuple[Grant, bool]:
    """Ask for a grant (approved at once when the source is shared unconditionally); returns (grant, created)."""
    return create_once(session, body, client_id=principal.client_id, key=idempotency_key, operation="grant", now=now,
                       create=lambda: _new_grant(session, body, principal=principal, pepper=pepper, now=now),
                       load=lambda grant_id: session.get(Grant, grant_id))


def _new_grant(session: Session, body: GrantCreate, *, principal: Principal, pepper: bytes, now: datetime) -> Grant:
    requester = require_department(session, principal)
    source = get_source(session, body.source)
    if source.department_id == requester.id:
        raise Conflict("A department reads its own sources without a grant.")
    if source.sharing_class == "not_shared":
        raise SourceNotShared(f"{source.name} ({source.id}) is not shared with other departments.")
    unknown = sorted(set(body.fields) - {f["name"] for f in source.fields})
    if unknown:
        raise ValidationFailed(f"Fields not in source {source.id}: {', '.join(unknown)}.", fields=unknown)
    grant = Grant(source_id=source.id, requester_id=requester.id, fields=sorted(set(body.fields)),
                  purpose=body.purpose, legal_basis=body.legal_basis.strip(), status="pending",
                  created_at=now, expires_at=now + timedelta(days=body.valid_days))
    session.add(grant)
    session.flush()
    if source.sharing_class == "unconditional":
        _decide(session, grant, "approved", actor="policy:unconditional", reason="无条件共享 unconditional sharing",
                pepper=pepper, now=now)
    return grant


def decide_grant(session: Session, grant_id: str, decision: str, *, principal: Principal, reason: str | None,
                 pepper: bytes, now: datetime) -> Grant:
    """Approve or reject a pending grant: the source's owner only."""
    grant, source = _visible(session, grant_id, principal)
    if source.department_id != principal.department_id:
        raise Forbidden("Only the department that owns the source decides on its grants.")
    if grant.status != "pending":
        raise Conflict(f"The grant is {grant.status}; only a pending grant can be decided.")
    return _decide(session, grant, decision, actor=_code(session, principal), reason=reason, pepper=pepper, now=now)


def revoke_grant(session: Session, grant_id: str, *, principal: Principal, reason: str, pepper: bytes,
                 now: datetime) -> Grant:
    """Revoke a grant (owner, requester or operator); it stops working at once."""
    grant, _ = _visible(session, grant_id, principal)
    if grant.status not in ("pending", "approved"):
        raise Conflict(f"The grant is already {grant.status}.")
    actor = "operator" if principal.is_operator else _code(session, principal)
    return _decide(session, grant, "revoked", actor=actor, reason=reason, pepper=pepper, now=now)


def _decide(session: Session, grant: Grant, status: str, *, actor: str, reason: str | None, pepper: bytes,
            now: datetime) -> Grant:
    grant.status, grant.reason, grant.decided_at, grant.decided_by = status, reason, now, actor
    requester = session.get(Department, grant.requester_id)
    TransactionSink(session, pepper).append([AuditEvent(kind="grant.decision", actor=actor, subject=None, data={
        "grant_id": grant.id, "decision": status, "source_id": grant.source_id, "requester_code": requester.code,
        "fields": grant.fields, "purpose": grant.purpose, "reason": reason})], now=now)
    session.flush()
    return grant


def _code(session: Session, principal: Principal) -> str:
    return require_department(session, principal).code


def _visible(session: Session, grant_id: str, principal: Principal) -> tuple[Grant, Source]:
    """The grant, if the caller may see it (requester, owner, operator); otherwise 404."""
    grant = session.get(Grant, grant_id) if len(grant_id) <= 32 else None
    source = session.get(Source, grant.source_id) if grant is not None else None
    if grant is None or not (principal.is_operator or principal.department_id in (grant.requester_id,
                                                                                  source.department_id)):
        raise NotFound("No such grant.")
    return grant, source


def get_grant(session: Session, grant_id: str, *, principal: Principal) -> Grant:
    return _visible(session, grant_id, principal)[0]


def list_grants(session: Session, *, principal: Principal, status: str | None, now: datetime) -> list[Grant]:
    """Grants the caller asked for or decides on (all of them for the operator), newest first."""
    query = select(Grant).join(Source, Source.id == Grant.source_id).order_by(Grant.created_at.desc()).limit(500)
    if not principal.is_operator:
        query = query.where(or_(Grant.requester_id == principal.department_id,
                                Source.department_id == principal.department_id))
    rows = list(session.scalars(query))
    return [g for g in rows if status is None or effective_status(g, now) == status]


def effective_status(grant: Grant, now: datetime | None) -> str:
    """The stored status, with approved grants past their end shown as expired."""
    if grant.status == "approved" and now is not None and grant.expires_at <= now:
        return "expired"
    return grant.status


def grant_out(session: Session, grant: Grant, *, now: datetime) -> GrantOut:
    source = session.get(Source, grant.source_id)
    owner, requester = session.get(Department, source.department_id), session.get(Department, grant.requester_id)
    return GrantOut(
        id=grant.id, source=source.id, source_name=source.name, owner=Owner(code=owner.code, name=owner.name),
        requester=Owner(code=requester.code, name=requester.name), fields=grant.fields, purpose=grant.purpose,
        legal_basis=grant.legal_basis, status=effective_status(grant, now), reason=grant.reason,
        created_at=grant.created_at, decided_at=grant.decided_at, decided_by=grant.decided_by,
        expires_at=grant.expires_at)


@dataclass(frozen=True)
class SourceAccess:
    """One source's definition and a requester's approved grants on it, by purpose, read in one statement.

    `grants` maps each purpose (normalised) to the (fields, end) of the approved grants stated for it. Expiry is
    applied when the access is used (`granted_at`), so a cached access stays right as time passes.
    """

    id: str
    name: str
    department_id: str
    subject_key: str
    sharing_class: str
    fields: list
    connector_type: str
    connector_config: dict
    updated_at: datetime
    grants: Mapping[str, tuple[tuple[frozenset[str], datetime], ...]]
    egress: EgressState = EgressState("none")  # the connector's targets and the owner's rules that approve them

    def granted_at(self, now: datetime, purpose: str) -> frozenset[str]:
        """The fields the requester's live grants for this purpose cover at `now`."""
        return frozenset(name for fields, ends in self.grants.get(purpose, ()) if ends > now for name in fields)

    def purposes_at(self, now: datetime) -> list[str]:
        """The purposes the requester holds a live grant for, sorted."""
        return sorted(purpose for purpose, grants in self.grants.items() if any(ends > now for _, ends in grants))


def source_access(session: Session, source_id: str, *, requester_id: str) -> SourceAccess:
    """The source with the requester's approved grants and its owner's egress rules (the query path's database read)."""
    approved = and_(Grant.source_id == Source.id, Grant.requester_id == requester_id, Grant.status == "approved")
    columns = [Source.id, Source.name, Source.department_id, Source.subject_key, Source.sharing_class,
               Source.fields, Source.connector_type, Source.connector_config, Source.updated_at]
    rows = session.connection().execute(
        select(*columns, Grant.fields.label("granted"), Grant.purpose, Grant.expires_at).outerjoin(Grant, approved)
        .where(Source.id == source_id)).all()
    if not rows:
        raise NotFound(f"No data source {source_id!r} in the catalogue.")
    grants: dict[str, tuple[tuple[frozenset[str], datetime], ...]] = {}
    for row in rows:
        if row.granted:  # normalised again: grants stored before purposes were normalised still match
            purpose = normalise_purpose(row.purpose)
            grants[purpose] = (*grants.get(purpose, ()), (frozenset(row.granted), row.expires_at))
    first = rows[0]
    egress = egress_state(first.connector_type, first.connector_config, department_rules(session, first.department_id))
    return SourceAccess(*(first[i] for i in range(len(columns))), grants=grants, egress=egress)

