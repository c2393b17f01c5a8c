"""The exchange query: authorise against grants and consent, fetch through the connector, audit, sign a receipt.

A query is answered only for a purpose one of the requester's approved grants on the source states (after the same
normalisation), and only with the fields the grants for that purpose cover; the owner reads its own source for any
purpose.

The route's path (ExchangeDesk) keeps the event loop free of the database in the common case: what a department
may read of a source is cached per worker under the registry generation it was read at (its grants by purpose, so
one read serves every purpose), the audit entry is appended by the group-commit sink, and inside that write the
generation is compared again, so a grant revoked a moment ago stops the query there and then. Refusals, consent
checks and cache misses read the database in the thread pool.

Issue from source takes the same path (`answer_within`): the plan is made in the issuance's session with the same
checks, and the audit entry joins the issuance's transaction instead of a group commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.audit.service import AuditEvent, AuditRef, TransactionSink
from hub.audit.sink import GroupCommitSink
from hub.audit.writer import AuditWriter
from hub.auth.tokens import Principal
from hub.core.errors import HubError, ValidationFailed
from hub.core.national_ids import is_valid_resident_id, mask_identity
from hub.exchange.consents import valid_consent
from hub.exchange.models import AuditRefOut, ExchangeAnswer, ExchangeQuery
from hub.exchange.receipts import ReceiptSigner, digest
from hub.catalogue.connections import Connections
from hub.catalogue.egress import SourcePendingReview
from hub.catalogue.generation import read_generation
from hub.catalogue.grants import SourceAccess, SourceNotShared, source_access
from hub.core.caches import factory_caches
from hub.departments.service import DepartmentView, cached_department, department_view
from license_verifier.identifiers import is_valid_credit_code


class GrantRequired(HubError):
    status, code, title = 403, "grant_required", "No grant covers this query"


class PurposeNotGranted(HubError):
    status, code, title = 403, "purpose_not_granted", "No grant on this source was approved for this purpose"


class ConsentRequired(HubError):
    status, code, title = 403, "consent_required", "The citizen's consent is needed for sensitive personal fields"


@dataclass(frozen=True)
class QueryPlan:
    """What an authorised query may fetch, who asked, and the registry generation the grant was read at."""

    source_id: str
    source_name: str
    requester_id: str
    requester_code: str
    requester_name: str
    subject_key: str
    purpose: str
    fields: tuple[str, ...]
    withheld: tuple[str, ...]
    sensitive: frozenset[str]
    owner: bool
    connector: Any
    generation: int | None = None


class ExchangeDesk:
    """The exchange queries of one worker: cached authorisation, the connector call, a group-committed audit."""

    def __init__(self, session_factory: sessionmaker[Session], *, connections: Connections,
                 receipts: ReceiptSigner, writer: AuditWriter, pepper: bytes) -> None:
        self._factory, self._connections, self._receipts = session_factory, connections, receipts
        self._caches = factory_caches(session_factory)
        self._sink, self._pepper = GroupCommitSink(writer, pepper), pepper
        self._access: dict[tuple[str, str], tuple[int, SourceAccess]] = {}
        self.generation = -1  # the newest registry generation this worker has seen

    def forget(self) -> None:
        """Drop every cached authorisation: an egress rule changed, so a source may be pending review now."""
        self._access.clear()

    async def answer(self, source_id: str, query: ExchangeQuery, *, principal: Principal,
                     now: datetime) -> ExchangeAnswer:
        """Answer one POST /exchange/{source_id}/query."""
        plan = self._cached_plan(source_id, query, principal, now)
        if plan is None:
            plan = await run_in_threadpool(self._fresh_plan, source_id, query, principal, now)
        guard = partial(self._recheck, plan, now)
        return await self._exchange(plan, query, now=now,
                                    audit=lambda event: self._sink.append([event], now=now, guard=guard))

    async def answer_within(self, session: Session, source_id: str, query: ExchangeQuery, *, principal: Principal,
                            now: datetime) -> ExchangeAnswer:
        """Answer inside the caller's transaction (issue from source): authorised and audited in its session."""
        plan = await run_in_threadpool(authorise_query, session, source_id, query, principal=principal,
                                       connections=self._connections, pepper=self._pepper, now=now)
        sink = TransactionSink(session, self._pepper)
        return await self._exchange(plan, query, now=now,
                                    audit=lambda event: run_in_threadpool(sink.append, [event], now=now))

    async def _exchange(self, plan: QueryPlan, query: ExchangeQuery, *, now: datetime,
                        audit: Callable[[AuditEvent], Awaitable[list[AuditRef]]]) -> ExchangeAnswer:
        """The one exchange path: fetch what the plan allows, audit it through the caller's sink, sign the receipt."""
        found = await self._connections.fetch(plan.connector, query.subject, plan.fields, source_id=plan.source_id)
        answer, event = answer_and_event(plan, query, found)
        (ref,) = await audit(event)
        return finish_answer(answer, plan, query, event, ref, receipts=self._receipts, now=now)

    def _cached_plan(self, source_id: str, query: ExchangeQuery, principal: Principal,
                     now: datetime) -> QueryPlan | None:
        """A plan from the cache, or None: misses, refusals and consent checks go to the database."""
        requester = cached_department(self._caches, principal)
        cached = None if requester is None else self._access.get((source_id, requester.id))
        if cached is None or cached[0] != self.generation:
            return None
        try:
            plan = plan_query(cached[1], requester, query, connections=self._connections, now=now,
                              generation=cached[0])
        except HubError:
            return None
        return None if plan.sensitive and not plan.owner else plan

    def _fresh_plan(self, source_id: str, query: ExchangeQuery, principal: Principal, now: datetime) -> QueryPlan:
        """Read the grant (and consent) from the database, caching the access for the next queries."""
        with self._factory() as session:
            generation = read_generation(session)  # first: a later change can only make the pair look older
            requester = department_view(session, principal)
            access = source_access(session, source_id, requester_id=requester.id)
            if generation is not None:
                self._access[(source_id, requester.id)] = (generation, access)
                self.generation = max(self.generation, generation)
            plan = plan_query(access, requester, query, connections=self._connections, now=now,
                              generation=generation)
            check_consent(session, plan, query, pepper=self._pepper, now=now)
            return plan

    def _recheck(self, plan: QueryPlan, now: datetime, session: Session) -> None:
        """Guard of the audit write: if the registry changed since the plan was made, the grant must still hold."""
        info = session.info
        if "registry_generation" not in info:
            info["registry_generation"] = read_generation(session)
        current = info["registry_generation"]
        if current is not None:
            self.generation = max(self.generation, current)
            if plan.generation == current:
                return
        key = ("registry_access", plan.source_id, plan.requester_id)
        if key not in info:
            info[key] = source_access(session, plan.source_id, requester_id=plan.requester_id)
        access: SourceAccess = info[key]
        if access.egress.pending:
            raise _pending(access)
        allowed = allowed_fields(access, plan.requester_id, now, plan.purpose)
        if not set(plan.fields) <= allowed:
            raise GrantRequired(f"The grant on {plan.source_id} changed while the query ran: its answer is "
                                "withheld. Check the grant with GET /grants.", source=plan.source_id)


def authorise_query(session: Session, source_id: str, query: ExchangeQuery, *, principal: Principal,
                    connections: Connections, pepper: bytes, now: datetime) -> QueryPlan:
    """Check source, subject, fields, grant and consent in the caller's session; return what may be fetched."""
    requester = department_view(session, principal)
    access = source_access(session, source_id, requester_id=requester.id)
    plan = plan_query(access, requester, query, connections=connections, now=now)
    check_consent(session, plan, query, pepper=pepper, now=now)
    return plan


def allowed_fields(access: SourceAccess, requester_id: str, now: datetime, purpose: str) -> frozenset[str]:
    """The fields a department may read of a source now, for a purpose: all of its own (whatever the purpose); of
    others', what its live grants approved for exactly this purpose cover."""
    if access.department_id == requester_id:
        return frozenset(f["name"] for f in access.fields)
    if access.sharing_class == "not_shared":
        return frozenset()
    return access.granted_at(now, purpose)


def plan_query(access: SourceAccess, requester: DepartmentView, query: ExchangeQuery, *, connections: Connections,
               now: datetime, generation: int | None = None) -> QueryPlan:
    """Check subject, fields and grant against a source's access (no database); return what may be fetched."""
    _check_subject(access.subject_key, query.subject, now)
    defined = {f["name"]: f for f in access.fields}
    unknown = sorted(set(query.fields) - set(defined))
    if unknown:
        raise ValidationFailed(f"Fields not in source {access.id}: {', '.join(unknown)}.", fields=unknown)
    owner = access.department_id == requester.id
    if not owner and access.sharing_class == "not_shared":
        raise SourceNotShared(f"{access.name} ({access.id}) is not shared with other departments.")
    allowed = allowed_fields(access, requester.id, now, query.purpose)
    fields = tuple(f for f in query.fields if f in allowed)
    if not fields:
        raise _refusal(access, requester, query.purpose, now)
    sensitive = frozenset(f for f in fields if defined[f]["sensitivity"] == "sensitive_personal")
    if access.egress.pending:
        raise _pending(access)
    connector = connections.get(access.id, access.connector_type, access.connector_config, access.egress.approved)
    return QueryPlan(source_id=access.id, source_name=access.name, requester_id=requester.id,
                     requester_code=requester.code, requester_name=requester.name, subject_key=access.subject_key,
                     purpose=query.purpose, fields=fields, withheld=tuple(f for f in query.fields if f not in allowed),
                     sensitive=sensitive, owner=owner, connector=connector, generation=generation)


def _refusal(access: SourceAccess, requester: DepartmentView, purpose: str, now: datetime) -> HubError:
    """Why nothing may be read: no grant for this purpose (naming the purposes held), or none for these fields."""
    held = access.purposes_at(now)
    if held and purpose not in held:
        listed = "; ".join(f"「{p}」" for p in held)
        return PurposeNotGranted(
            f"{requester.name} holds no grant on {access.id} for the purpose 「{purpose}」. Its grants there were "
            f"approved for: {listed}. State one of these exactly, or ask for a grant for this purpose with "
            "POST /grants.", source=access.id, granted_purposes=held)
    return GrantRequired(f"No live grant lets {requester.name} read these fields of {access.id} for the purpose "
                         f"「{purpose}」: request one with POST /grants.", source=access.id)


def _pending(access: SourceAccess) -> SourcePendingReview:
    return SourcePendingReview(f"{access.name} ({access.id}) is not contacted until the hub's operator approves its "
                               "connector target (an egress rule); ask the operator.", source=access.id)


def check_consent(session: Session, plan: QueryPlan, query: ExchangeQuery, *, pepper: bytes, now: datetime) -> None:
    """Sensitive personal fields of another department's source need the citizen's live consent."""
    if not plan.sensitive or plan.owner:
        return
    problem = valid_consent(session, query.consent, requester_id=plan.requester_id, source_id=plan.source_id,
                            subject=query.subject, purpose=query.purpose, fields=set(plan.sensitive), pepper=pepper,
                            now=now)
    if problem:
        raise ConsentRequired(f"{', '.join(sorted(plan.sensitive))} need the citizen's consent: {problem}. "
                              "Ask for it with POST /consents.", fields=sorted(plan.sensitive))


def _check_subject(subject_key: str, subject: str, now: datetime) -> None:
    if subject_key == "resident_id" and not is_valid_resident_id(subject, today=now.date()):
        raise ValidationFailed("subject is not a valid resident identity number (GB 11643).")
    if subject_key == "credit_code" and not is_valid_credit_code(subject):
        raise ValidationFailed("subject is not a valid unified social credit code (GB 32100).")


def answer_and_event(plan: QueryPlan, query: ExchangeQuery, found: dict | None) -> tuple[dict | None, AuditEvent]:
    """Keep only the planned fields of what the source found; describe the exchange for the audit log."""
    answer = None if found is None else {f: found[f] for f in plan.fields if f in found}
    request_hash = digest({"source": plan.source_id, "subject": query.subject, "fields": list(query.fields),
                           "purpose": query.purpose, "detail": query.detail, "consent": query.consent,
                           "requester": plan.requester_code})
    response_hash = digest({"found": answer is not None, "record": answer})
    event = AuditEvent(kind="exchange.query", actor=plan.requester_code, subject=query.subject, data={
        "requester_code": plan.requester_code, "requester_name": plan.requester_name, "source_id": plan.source_id,
        "source_name": plan.source_name, "fields": list(plan.fields), "purpose": query.purpose,
        "detail": query.detail, "found": answer is not None, "request_hash": request_hash,
        "response_hash": response_hash, "subject_masked": mask_identity(plan.subject_key, query.subject)})
    return answer, event


def finish_answer(answer: dict | None, plan: QueryPlan, query: ExchangeQuery, event: AuditEvent, ref: AuditRef, *,
                  receipts: ReceiptSigner, now: datetime) -> ExchangeAnswer:
    """Sign the receipt over the audited exchange (the entry's hashes) and build the answer."""
    receipt = receipts.sign({"jti": ref.id, "requester": plan.requester_code, "source": plan.source_id,
                             "purpose": query.purpose, "detail": query.detail,
                             "request_hash": event.data["request_hash"],
                             "response_hash": event.data["response_hash"], "audit_leaf": ref.leaf_hash}, now=now)
    return ExchangeAnswer(source=plan.source_id, subject=mask_identity(plan.subject_key, query.subject),
                          found=answer is not None, record=answer, withheld=list(plan.withheld), receipt=receipt,
                          audit=AuditRefOut(entry_id=ref.id, leaf_hash=ref.leaf_hash))
