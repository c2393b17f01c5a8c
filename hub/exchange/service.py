"""The exchange query: authorise against grants and consent, fetch through the connector, audit, sign a receipt.

The route is async: the two short database steps run in the thread pool and the connector call awaits, so one
worker keeps many queries in flight while department systems answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.audit.service import AuditEvent, record
from hub.auth.tokens import Principal
from hub.core.errors import HubError, ValidationFailed
from hub.core.ids import is_valid_credit_code, is_valid_resident_id, mask_identity
from hub.exchange.consents import valid_consent
from hub.exchange.models import AuditRefOut, ExchangeAnswer, ExchangeQuery
from hub.exchange.receipts import ReceiptSigner, digest
from hub.registry.connections import Connections
from hub.registry.grants import SourceNotShared, source_access
from hub.registry.sources import department_view


class GrantRequired(HubError):
    status, code, title = 403, "grant_required", "No grant covers this query"


class ConsentRequired(HubError):
    status, code, title = 403, "consent_required", "The citizen's consent is needed for sensitive personal fields"


@dataclass(frozen=True)
class QueryPlan:
    """What an authorised query may fetch, and who asked."""

    source_id: str
    source_name: str
    requester_code: str
    requester_name: str
    subject_key: str
    fields: tuple[str, ...]
    withheld: tuple[str, ...]
    connector: Any


async def answer_query(session_factory: sessionmaker[Session], source_id: str, query: ExchangeQuery, *,
                       principal: Principal, connections: Connections, receipts: ReceiptSigner, pepper: bytes,
                       now: datetime) -> ExchangeAnswer:
    """Answer one exchange query (POST /exchange/…): authorise in a read, fetch, then audit in one short write.

    The query writes nothing but its audit entry, so that entry gets a transaction of its own, committed in
    the same thread step that inserts it: the write lock is held for microseconds, not across a thread hop.
    """
    def authorise() -> QueryPlan:
        with session_factory() as session:
            return authorise_query(session, source_id, query, principal=principal, connections=connections,
                                   pepper=pepper, now=now)

    def complete(found: dict | None) -> ExchangeAnswer:
        with session_factory.begin() as session:
            return complete_query(session, plan, query, found, receipts=receipts, pepper=pepper, now=now)

    plan = await run_in_threadpool(authorise)
    found = await connections.fetch(plan.connector, query.subject, plan.fields)
    return await run_in_threadpool(complete, found)


async def query_source(session: Session, source_id: str, query: ExchangeQuery, *, principal: Principal,
                       connections: Connections, receipts: ReceiptSigner, pepper: bytes,
                       now: datetime) -> ExchangeAnswer:
    """Answer an exchange query inside the caller's transaction (e.g. issuance from a source)."""
    plan = await run_in_threadpool(authorise_query, session, source_id, query, principal=principal,
                                   connections=connections, pepper=pepper, now=now)
    found = await connections.fetch(plan.connector, query.subject, plan.fields)
    return await run_in_threadpool(complete_query, session, plan, query, found, receipts=receipts, pepper=pepper,
                                   now=now)


def authorise_query(session: Session, source_id: str, query: ExchangeQuery, *, principal: Principal,
                    connections: Connections, pepper: bytes, now: datetime) -> QueryPlan:
    """Check source, subject, fields, grant and consent; return what may be fetched."""
    requester = department_view(session, principal)
    source = source_access(session, source_id, requester_id=requester.id, now=now)
    _check_subject(source.subject_key, query.subject, now)
    defined = {f["name"]: f for f in source.fields}
    unknown = sorted(set(query.fields) - set(defined))
    if unknown:
        raise ValidationFailed(f"Fields not in source {source.id}: {', '.join(unknown)}.", fields=unknown)
    owner = source.department_id == requester.id
    if not owner and source.sharing_class == "not_shared":
        raise SourceNotShared(f"{source.name} ({source.id}) is not shared with other departments.")
    allowed = set(defined) if owner else source.granted
    fields = tuple(f for f in query.fields if f in allowed)
    if not fields:
        raise GrantRequired(f"No live grant lets {requester.name} read these fields of {source.id}: "
                            "request one with POST /grants.", source=source.id)
    sensitive = {f for f in fields if defined[f]["sensitivity"] == "sensitive_personal"}
    if sensitive and not owner:
        problem = valid_consent(session, query.consent, requester_id=requester.id, source_id=source.id,
                                subject=query.subject, purpose=query.purpose, fields=sensitive, pepper=pepper, now=now)
        if problem:
            raise ConsentRequired(f"{', '.join(sorted(sensitive))} need the citizen's consent: {problem}. "
                                  "Ask for it with POST /consents.", fields=sorted(sensitive))
    connector = connections.get(source.id, source.updated_at, source.connector_type, source.connector_config)
    return QueryPlan(source_id=source.id, source_name=source.name, requester_code=requester.code,
                     requester_name=requester.name, subject_key=source.subject_key, fields=fields,
                     withheld=tuple(f for f in query.fields if f not in allowed), connector=connector)


def _check_subject(subject_key: str, subject: str, now: datetime) -> None:
    if subject_key == "resident_id" and not is_valid_resident_id(subject, today=now.date()):
        raise ValidationFailed("subject is not a valid resident identity number (GB 11643).")
    if subject_key == "credit_code" and not is_valid_credit_code(subject):
        raise ValidationFailed("subject is not a valid unified social credit code (GB 32100).")


def complete_query(session: Session, plan: QueryPlan, query: ExchangeQuery, found: dict | None, *,
                   receipts: ReceiptSigner, pepper: bytes, now: datetime) -> ExchangeAnswer:
    """Keep only granted fields, append the audit entry and sign the receipt."""
    answer = None if found is None else {f: found[f] for f in plan.fields if f in found}
    request_hash = digest({"source": plan.source_id, "subject": query.subject, "fields": list(query.fields),
                           "purpose": query.purpose, "consent": query.consent, "requester": plan.requester_code})
    response_hash = digest({"found": answer is not None, "record": answer})
    masked = mask_identity(plan.subject_key, query.subject)
    ref = record(session, AuditEvent(kind="exchange.query", actor=plan.requester_code, subject=query.subject, data={
        "requester_code": plan.requester_code, "requester_name": plan.requester_name, "source_id": plan.source_id,
        "source_name": plan.source_name, "fields": list(plan.fields), "purpose": query.purpose,
        "found": answer is not None, "request_hash": request_hash, "response_hash": response_hash,
        "subject_masked": masked}), now=now, pepper=pepper)
    receipt = receipts.sign({"jti": ref.id, "requester": plan.requester_code, "source": plan.source_id,
                             "purpose": query.purpose, "request_hash": request_hash,
                             "response_hash": response_hash, "audit_leaf": ref.leaf_hash}, now=now)
    return ExchangeAnswer(source=plan.source_id, subject=masked, found=answer is not None, record=answer,
                          withheld=list(plan.withheld), receipt=receipt,
                          audit=AuditRefOut(entry_id=ref.id, leaf_hash=ref.leaf_hash))
