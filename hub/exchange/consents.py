"""Consents: a department asks, the citizen approves or rejects (and may revoke) with a citizen token."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit.service import AuditEvent, TransactionSink, subject_ref
from hub.auth.tokens import Principal
from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.core.idempotency import create_once
from hub.core.national_ids import is_valid_resident_id, mask_resident_id
from hub.exchange.models import ConsentCreate, ConsentOut
from hub.exchange.tables import Consent
from hub.catalogue.models import normalise_purpose
from hub.departments.models import Owner
from hub.catalogue.sources import get_source
from hub.departments.service import require_department
from hub.catalogue.tables import Source
from hub.departments.tables import Department

DECISIONS = {"approve": ("pending", "approved"), "reject": ("pending", "rejected"), "revoke": ("approved", "revoked")}


def request_consent(session: Session, body: ConsentCreate, *, principal: Principal, pepper: bytes, now: datetime,
                    idempotency_key: str | None = None) -> tuple[Consent, bool]:
    """Create a pending consent request to the citizen; returns (consent, created)."""
    return create_once(session, body, client_id=principal.client_id, key=idempotency_key, operation="consent",
                       now=now, create=lambda: _new_consent(session, body, principal=principal, pepper=pepper, now=now),
                       load=lambda consent_id: session.get(Consent, consent_id))


def _new_consent(session: Session, body: ConsentCreate, *, principal: Principal, pepper: bytes,
                 now: datetime) -> Consent:
    requester = require_department(session, principal)
    source = get_source(session, body.source)
    if source.subject_key != "resident_id":
        raise ValidationFailed("Consents are given by citizens: this source is keyed by credit code.")
    if not is_valid_resident_id(body.subject, today=now.date()):
        raise ValidationFailed("subject is not a valid resident identity number (GB 11643).")
    unknown = sorted(set(body.fields) - {f["name"] for f in source.fields})
    if unknown:
        raise ValidationFailed(f"Fields not in source {source.id}: {', '.join(unknown)}.", fields=unknown)
    consent = Consent(subject_ref=subject_ref(pepper, body.subject), subject_masked=mask_resident_id(body.subject),
                      requester_id=requester.id, source_id=source.id, fields=sorted(set(body.fields)),
                      purpose=body.purpose, status="pending", valid_days=body.valid_days, created_at=now)
    session.add(consent)
    session.flush()
    return consent


def decide_consent(session: Session, consent_id: str, action: str, *, principal: Principal, pepper: bytes,
                   now: datetime) -> Consent:
    """The citizen approves, rejects or revokes one of their consents; recorded in the audit log."""
    consent = citizen_consent(session, consent_id, principal=principal, pepper=pepper)
    before, after = DECISIONS[action]
    if consent.status != before or (action == "revoke" and _expired(consent, now)):
        raise Conflict(f"The consent is {effective_status(consent, now)}; cannot {action} it.")
    consent.status, consent.decided_at = after, now
    if after == "approved":
        consent.expires_at = now + timedelta(days=consent.valid_days)
    requester = session.get(Department, consent.requester_id)
    TransactionSink(session, pepper).append([AuditEvent(
        kind="consent.decision", actor=f"citizen:{consent.subject_masked}", subject=principal.subject, data={
            "consent_id": consent.id, "decision": after, "requester_code": requester.code,
            "requester_name": requester.name, "source_id": consent.source_id, "fields": consent.fields,
            "purpose": consent.purpose, "subject_masked": consent.subject_masked})], now=now)
    session.flush()
    return consent


def citizen_consent(session: Session, consent_id: str, *, principal: Principal, pepper: bytes) -> Consent:
    consent = session.get(Consent, consent_id) if len(consent_id) <= 32 else None
    if consent is None or not hmac.compare_digest(consent.subject_ref, subject_ref(pepper, principal.subject or "")):
        raise NotFound("No such consent.")
    return consent


def requester_consent(session: Session, consent_id: str, *, principal: Principal) -> Consent:
    consent = session.get(Consent, consent_id) if len(consent_id) <= 32 else None
    if consent is None or not (principal.is_operator or consent.requester_id == principal.department_id):
        raise NotFound("No such consent.")
    return consent


def citizen_consents(session: Session, *, principal: Principal, pepper: bytes) -> list[Consent]:
    """Every consent request addressed to the calling citizen, newest first."""
    query = select(Consent).where(Consent.subject_ref == subject_ref(pepper, principal.subject or ""))
    return list(session.scalars(query.order_by(Consent.created_at.desc()).limit(200)))


def valid_consent(session: Session, consent_id: str | None, *, requester_id: str, source_id: str, subject: str,
                  purpose: str, fields: set[str], pepper: bytes, now: datetime) -> str | None:
    """Why the consent does not cover this query, or None when it does."""
    consent = session.get(Consent, consent_id) if consent_id else None
    if consent is None or consent.requester_id != requester_id:
        return "no consent was given" if consent_id is None else "no such consent for this department"
    if consent.source_id != source_id or not hmac.compare_digest(consent.subject_ref, subject_ref(pepper, subject)):
        return "the consent was given for another source or citizen"
    if consent.status != "approved" or _expired(consent, now):
        return f"the consent is {effective_status(consent, now)}"
    if normalise_purpose(consent.purpose) != purpose:  # the query's purpose is normalised by its model
        return "the consent was given for another purpose"
    if not fields <= set(consent.fields):
        return f"the consent does not cover {', '.join(sorted(fields - set(consent.fields)))}"
    return None


def _expired(consent: Consent, now: datetime) -> bool:
    return consent.expires_at is not None and consent.expires_at <= now


def effective_status(consent: Consent, now: datetime) -> str:
    return "expired" if consent.status == "approved" and _expired(consent, now) else consent.status


def consent_out(session: Session, consent: Consent, *, now: datetime) -> ConsentOut:
    requester, source = session.get(Department, consent.requester_id), session.get(Source, consent.source_id)
    return ConsentOut(id=consent.id, subject=consent.subject_masked,
                      requester=Owner(code=requester.code, name=requester.name), source=source.id,
                      source_name=source.name, fields=consent.fields, purpose=consent.purpose,
                      status=effective_status(consent, now), created_at=consent.created_at,
                      decided_at=consent.decided_at, expires_at=consent.expires_at)
