"""Issue many licenses in one transaction: the batch path, with a few statements per group of licenses.

`issue_many` does what `issue_license` does for each request (same checks, same errors, same
idempotency rules, same rows), but reserves serials with one counter update per license type and
year, allocates status list indexes for all at once, and inserts licenses, events and idempotency
records with executemany. It renders nothing: QR images and PDFs of bulk-issued licenses are
rendered from the committed record on first request. The caller owns the transaction; an
IntegrityError (another transaction committed one of these idempotency keys meanwhile) leaves the
caller to roll back and try again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from sqlalchemy import ARRAY, String, any_, insert, literal, select
from sqlalchemy.orm import Session

from hub.audit.service import record_many, session_pepper
from hub.auth.tokens import Principal
from hub.core.db import new_id
from hub.core.errors import Conflict, HubError, ValidationFailed
from hub.licenses.models import LicenseIssue
from hub.licenses.service import (
    IdempotencyConflict,
    NotAllowedIssuer,
    UnknownLicenseType,
    _validity,
    license_event,
    local_date,
    request_hash,
    reserve_serials,
    validated_data,
)
from hub.licenses.sourcing import require_source_path
from hub.licenses.tables import IdempotencyRecord, License, LicenseEvent
from hub.licenses.types import LicenseType
from hub.registry.service import get_department
from hub.status.service import allocate_indexes
from hub.trust.service import KeyRing, b64url
from hub.trust.signing import encode_qr
from license_verifier.qr import LicenseClaims

log = logging.getLogger("hub.licenses")


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one request: its license (new, or the one its key already issued), or its error."""

    identifier: str | None = None
    created: bool = False
    error: HubError | None = None


@dataclass(frozen=True)
class _Pending:
    position: int
    request: LicenseIssue
    key: str | None
    digest: str
    license_type: LicenseType
    data: dict
    valid_from: date
    valid_until: date | None


def issue_many(session: Session, requests: Sequence[tuple[LicenseIssue, str | None]], *, principal: Principal,
               types: dict[str, LicenseType], keyring: KeyRing, now: datetime) -> list[BulkOutcome]:
    """Issue each (request, idempotency key) as issue_license would; one outcome per request, in order."""
    department = get_department(session, principal.department_id or "")
    replays = _replays(session, principal.client_id, [key for _, key in requests if key is not None])
    outcomes: list[BulkOutcome | None] = [None] * len(requests)
    pending: list[_Pending] = []
    first_of: dict[str, _Pending] = {}
    repeats: list[tuple[int, _Pending, str]] = []  # a key used twice in this call: answered by its first use
    for position, (request, key) in enumerate(requests):
        digest = request_hash(request)
        if key is not None and key in replays:
            outcomes[position] = _replay(replays[key], digest)
        elif key is not None and key in first_of:
            repeats.append((position, first_of[key], digest))
        else:
            try:
                item = _checked(position, request, key, digest, department, types, now)
            except HubError as exc:
                outcomes[position] = BulkOutcome(error=exc)
                continue
            pending.append(item)
            if key is not None:
                first_of[key] = item
    for item, outcome in zip(pending, _issue(session, pending, department=department, principal=principal,
                                             keyring=keyring, now=now)):
        outcomes[item.position] = outcome
    for position, first, digest in repeats:
        done = outcomes[first.position]
        outcomes[position] = done if done.error else _replay((first.digest, done.identifier), digest)
    return outcomes  # type: ignore[return-value]


def _replay(known: tuple[str, str | None], digest: str) -> BulkOutcome:
    recorded_digest, identifier = known
    if recorded_digest != digest:
        return BulkOutcome(error=IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body."))
    return BulkOutcome(identifier=identifier, created=False)


def _replays(session: Session, client_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
    """Return {key: (request hash, license identifier)} for the keys this client has used already."""
    found: dict[str, tuple[str, str]] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(keys), 500):
        some = keys[start:start + 500]
        # PostgreSQL: one array parameter; an IN list of 500 parameters costs 3x as much to send.
        wanted = IdempotencyRecord.key == any_(literal(some, ARRAY(String))) if postgres else \
            IdempotencyRecord.key.in_(some)
        rows = session.execute(
            select(IdempotencyRecord.key, IdempotencyRecord.request_hash, License.identifier)
            .join(License, License.id == IdempotencyRecord.license_id)
            .where(IdempotencyRecord.client_id == client_id, wanted))
        found.update((key, (digest, identifier)) for key, digest, identifier in rows)
    return found


def _checked(position: int, request: LicenseIssue, key: str | None, digest: str, department,
             types: dict[str, LicenseType], now: datetime) -> _Pending:
    """Run issue_license's checks, in its order; raise the first failing one's error.

    A type bound to a source is refused (issued_from_source_only): a batch carries the caller's data, and its
    licenses are issued one by one with POST /licenses and from_source.
    """
    license_type = types.get(request.type)
    if license_type is None:
        raise UnknownLicenseType(f"No license type with code {request.type}.")
    if department.code not in license_type.issuers:
        raise NotAllowedIssuer(f"{department.name} may not issue {license_type.name}.")
    require_source_path(license_type, sourced=False)
    if request.from_source:
        raise ValidationFailed("from_source is taken by POST /licenses only, not in batches.")
    data = validated_data(license_type, request.holder, request.data, today=local_date(now))
    valid_from, valid_until = _validity(license_type, request, now)
    return _Pending(position, request, key, digest, license_type, data, valid_from, valid_until)


def _issue(session: Session, pending: list[_Pending], *, department, principal: Principal, keyring: KeyRing,
           now: datetime) -> list[BulkOutcome]:
    """Number, index, sign and insert the checked requests."""
    if not pending:
        return []
    try:
        signer = keyring.signer_for(session, department.id)
    except HubError as exc:
        return [BulkOutcome(error=exc) for _ in pending]
    serials = _serials(session, pending, department.code)
    numbered = [(item, serial, new_id()) for item, serial in zip(pending, serials) if serial is not None]
    refs = allocate_indexes(session, department_id=department.id, issuer_code=department.code,
                            license_ids=[license_id for _, _, license_id in numbered], now=now)
    licenses = [_license_values(item, serial, license_id, ref, department=department, signer=signer,
                                actor=principal.client_id, now=now)
                for (item, serial, license_id), ref in zip(numbered, refs)]
    if licenses:
        session.execute(insert(License.__table__), licenses)
        session.execute(insert(LicenseEvent.__table__), [
            {"license_id": row["id"], "action": "issued", "reason": None, "actor": principal.client_id, "at": now,
             "related": None} for row in licenses])
        record_many(session, [license_event(row["identifier"], row["type_code"], row["issuer_code"], row["holder_id"],
                                            "issued", client_id=principal.client_id) for row in licenses],
                    now=now, pepper=session_pepper(session))
    records = [{"client_id": principal.client_id, "key": item.key, "request_hash": item.digest,
                "license_id": license_id, "created_at": now} for item, _, license_id in numbered if item.key is not None]
    if records:
        session.execute(insert(IdempotencyRecord.__table__), records)
    log.info("issued %d licenses in bulk by %s", len(licenses), principal.client_id)
    identifiers = {item.position: row["identifier"] for (item, _, _), row in zip(numbered, licenses)}
    exhausted = Conflict("The yearly serial range of this license type is exhausted for this issuer.")
    return [BulkOutcome(identifier=identifiers[item.position], created=True) if item.position in identifiers
            else BulkOutcome(error=exhausted) for item in pending]


def _license_values(item: _Pending, serial: int, license_id: str, ref: tuple[int, int], *, department,
                    signer, actor: str, now: datetime) -> dict:
    """The licenses row of one request, its QR text signed (Core insert: the ORM would cost more)."""
    holder = item.request.holder
    claims = LicenseClaims(
        type_code=item.license_type.code, issuer_code=department.code, serial=serial, version=1,
        valid_from=item.valid_from, valid_until=item.valid_until, holder_id=holder.id, holder_name=holder.name,
        fields=tuple(item.data.get(name) for name in item.license_type.qr_fields), status_ref=ref)
    return {"id": license_id, "identifier": claims.identifier, "type_code": item.license_type.code,
            "issuer_department_id": department.id, "issuer_code": department.code, "serial": serial, "version": 1,
            "holder_id_type": holder.id_type, "holder_id": holder.id, "holder_name": holder.name,
            "data": orjson.loads(orjson.dumps(item.data)), "valid_from": item.valid_from,
            "valid_until": item.valid_until, "status": "active", "status_list_no": ref[0], "status_index": ref[1],
            "superseded_by": None, "kid": b64url(signer.kid), "qr_text": encode_qr(claims, signer),
            "issued_by": actor, "issued_at": now}


def _serials(session: Session, pending: list[_Pending], issuer_code: str) -> list[int | None]:
    """Reserve consecutive serials per (type, year), in request order; None where the range is exhausted."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, item in enumerate(pending):
        groups.setdefault((item.license_type.code, item.valid_from.year), []).append(i)
    serials: list[int | None] = [None] * len(pending)
    for (type_code, year), members in groups.items():
        taken = reserve_serials(session, issuer_code=issuer_code, type_code=type_code, year=year, count=len(members))
        for i, serial in zip(members, taken):
            serials[i] = serial
    return serials
