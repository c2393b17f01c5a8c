"""Read the audit log: the signed tree head, inclusion and consistency proofs, a citizen's access log.

Each read first sequences what has committed (AuditLog.refresh), so answers include the latest entries.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit.entries import AuditEvent, AuditRef, b64, citizen_actor, rfc3339, subject_ref
from hub.audit.heads import TreeHead, head_of_size, latest_head
from hub.audit.merkle import consistency_proof, inclusion_path
from hub.audit.models import AccessLogItem, AccessLogPage, ConsistencyProofOut, InclusionProofOut, TreeHeadOut
from hub.audit.runtime import AuditLog
from hub.audit.sink import AuditSink, TransactionSink, session_info, session_pepper
from hub.audit.store import stored_proof
from hub.audit.tables import AuditEntry
from hub.auth.tokens import Principal
from hub.core.errors import BadRequest, Conflict, NotFound
from hub.core.national_ids import mask_resident_id

ACCESS_KIND = "exchange.query"
__all__ = ["AuditSink", "TransactionSink", "session_info", "session_pepper", "AuditEvent", "AuditRef",
           "citizen_actor", "subject_ref", "current_tree_head", "entry_inclusion_proof", "tree_consistency_proof",
           "citizen_access_log"]


class EntryPending(Conflict):
    status, code, title = 409, "audit_entry_pending", "The entry is not in the log yet"


class BadTreeSize(BadRequest):
    status, code, title = 400, "bad_tree_size", "No tree of that size"


def _head(session: Session) -> TreeHead:
    head = latest_head(session)
    if head is None:
        raise NotFound("The audit log has no signed tree head yet.")
    return head


def current_tree_head(session: Session, *, log: AuditLog) -> TreeHeadOut:
    """Return the latest signed tree head."""
    log.refresh()
    return TreeHeadOut(**_head(session).as_json())


def _may_see(session: Session, entry: AuditEntry, principal: Principal, log: AuditLog) -> bool:
    """The operator, the department that acted, and the citizen the entry is about may see an entry."""
    if principal.is_operator:
        return True
    if principal.is_citizen:
        return bool(principal.subject) and entry.subject_ref == subject_ref(log.pepper, principal.subject)
    if principal.role == "department" and principal.department_id and log.department_code is not None:
        return log.department_code(session, principal.department_id) == entry.actor
    return False


def entry_inclusion_proof(session: Session, entry_id: str, *, tree_size: int | None, principal: Principal,
                          log: AuditLog) -> InclusionProofOut:
    """Prove an entry is in the tree of tree_size (default: the latest); NotFound for entries the caller may not see."""
    log.refresh()
    entry = session.get(AuditEntry, entry_id)
    if entry is None or not _may_see(session, entry, principal, log):
        raise NotFound("No such audit entry.")  # the same answer whether it exists or not
    if entry.seq is None:
        raise EntryPending("The entry has not been sequenced yet; retry in a few seconds.")
    latest = _head(session)
    size = latest.tree_size if tree_size is None else tree_size
    if size > latest.tree_size:
        raise BadTreeSize(f"tree_size is larger than the log's latest signed tree head ({latest.tree_size}).")
    if entry.seq >= size:
        raise BadTreeSize(f"The entry is leaf {entry.seq}: it is not in the tree of size {size}.")
    path = stored_proof(session, lambda fetch: inclusion_path(entry.seq, size, fetch))
    signed = head_of_size(session, size)
    return InclusionProofOut(leaf_index=entry.seq, tree_size=size, leaf_hash=b64(entry.leaf_hash),
                             audit_path=[b64(h) for h in path],
                             tree_head=TreeHeadOut(**signed.as_json()) if signed else None)


def tree_consistency_proof(session: Session, *, first: int, second: int, log: AuditLog) -> ConsistencyProofOut:
    """Prove the tree of size `second` extends the tree of size `first` (RFC 6962 §2.1.2)."""
    log.refresh()
    latest = _head(session)
    if not 0 < first <= second:
        raise BadTreeSize("Need 0 < first <= second.")
    if second > latest.tree_size:
        raise BadTreeSize(f"second is larger than the log's latest signed tree head ({latest.tree_size}).")
    proof = stored_proof(session, lambda fetch: consistency_proof(first, second, fetch))
    return ConsistencyProofOut(first=first, second=second, consistency=[b64(h) for h in proof])


def citizen_access_log(session: Session, *, principal: Principal, limit: int, before: int | None,
                       log: AuditLog) -> AccessLogPage:
    """Return who queried the citizen's data, newest first, a page of `limit` before seq `before`."""
    log.refresh()
    query = (select(AuditEntry)
             .where(AuditEntry.subject_ref == subject_ref(log.pepper, principal.subject or ""),
                    AuditEntry.kind == ACCESS_KIND, AuditEntry.seq.is_not(None))
             .order_by(AuditEntry.seq.desc()).limit(limit))
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    rows = session.scalars(query).all()
    return AccessLogPage(subject=mask_resident_id(principal.subject or ""), items=[_access_item(r) for r in rows],
                         next_before=rows[-1].seq if len(rows) == limit else None)


def _text(data: dict, key: str) -> str | None:
    value = data.get(key)
    return str(value) if value is not None else None


def _access_item(row: AuditEntry) -> AccessLogItem:
    try:
        data = json.loads(row.data)
    except ValueError:  # a damaged row still lists (hub audit verify names it)
        data = {}
    data = data if isinstance(data, dict) else {}
    fields = data.get("fields")
    return AccessLogItem(
        time=rfc3339(row.created_at), requester_name=_text(data, "requester_name"),
        requester_code=_text(data, "requester_code"), source_id=_text(data, "source_id"),
        source_name=_text(data, "source_name"), purpose=_text(data, "purpose"), detail=_text(data, "detail"),
        fields=[str(f) for f in fields] if isinstance(fields, list) else [],
        seq=row.seq, entry_id=row.id, leaf_hash=b64(row.leaf_hash))

