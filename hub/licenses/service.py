"""Issue e-licenses: validate, number, sign, render the QR, store; and read them back."""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.audit.service import AuditEvent, record, session_pepper
from hub.auth.tokens import Principal
from hub.core.dates import check_validity
from hub.core.db import after_commit, at_once, counts_at_once, new_id
from hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.core.idempotency import IdempotencyConflict  # re-exported: batches import it from here
from hub.core.ids import is_valid_resident_id, mask_identity
from hub.licenses.artifacts import Artifacts
from hub.licenses.models import Holder, IssuerOut, LicenseIssue, LicenseLinks, LicenseOut, StatusListEntryLink
from hub.licenses.sourcing import require_source_path
from hub.licenses.tables import IdempotencyRecord, License, LicenseEvent, SerialCounter
from hub.licenses.types import LicenseDataError, LicenseType, validate_license_data
from hub.licenses.vc import license_credential, sign_vc_jwt
from hub.registry.service import get_department
from hub.registry.sources import department_by_id
from hub.status.service import allocate_index
from hub.trust.service import KeyRing, b64url
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr
from license_verifier.identifiers import is_valid_credit_code
from license_verifier.qr import LicenseClaims
from license_verifier.statuslist import PURPOSES, list_id
from license_verifier.verifier import CHINA_STANDARD_TIME

log = logging.getLogger("hub.licenses")
SERIAL_DIGITS = 6  # serial = YYYY + 6 digits: stays a CBOR uint32 in the QR


class UnknownLicenseType(ValidationFailed):
    code, title = "unknown_license_type", "Unknown license type"


class InvalidLicenseData(ValidationFailed):
    code, title = "invalid_license_data", "The license data does not match its type"


class NotAllowedIssuer(Forbidden):
    code, title = "issuer_not_allowed", "This department may not issue this license type"


def request_hash(request: LicenseIssue) -> str:
    """Hash the request body canonically, so a retry with the same key can be recognised."""
    return hashlib.sha256(orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


def issue_license(session: Session, request: LicenseIssue, *, principal: Principal, types: dict[str, LicenseType],
                  keyring: KeyRing, artifacts: Artifacts | None, idempotency_key: str | None,
                  now: datetime, sourced: bool = False) -> tuple[License, bool]:
    """Issue one license; returns it and whether it was newly created (False: an idempotent replay).

    `sourced`: the request's data was read from its type's source by hub.licenses.sourcing (types bound to a
    source are refused otherwise).
    """
    digest = request_hash(request) if idempotency_key is not None else ""
    if idempotency_key is not None:
        replay = _replay(session, principal.client_id, idempotency_key, digest)
        if replay is not None:
            return replay, False
    license_type = types.get(request.type)
    if license_type is None:
        raise UnknownLicenseType(f"No license type with code {request.type}.")
    department = department_by_id(session, principal.department_id or "")  # cached: departments are not edited
    if department.code not in license_type.issuers:
        raise NotAllowedIssuer(f"{department.name} may not issue {license_type.name}.")
    require_source_path(license_type, sourced=sourced)
    if request.from_source:  # the router fills the data from the source first; nothing else may ask for it
        raise ValidationFailed("from_source is taken by POST /licenses only, not in batches.")
    data = validated_data(license_type, request.holder, request.data, today=local_date(now))
    valid_from, valid_until = _validity(license_type, request, now)
    signer = keyring.signer_for(session, department.id)
    # From the serial on, the transaction holds the issuer's counter rows until it commits: keep it short.
    serial = _next_serial_or_conflict(session, department.code, license_type.code, valid_from.year)
    row = create_version(session, license_type=license_type, department=department, keyring=keyring,
                         artifacts=artifacts,
                         serial=serial, version=1, holder=request.holder, data=data, valid_from=valid_from,
                         valid_until=valid_until, actor=principal.client_id, now=now, signer=signer)
    record_event(session, row, "issued", actor=principal.client_id, now=now)
    if idempotency_key is not None:
        _remember(session, principal.client_id, idempotency_key, digest, row.id, now)
    log.info("issued %s (%s) to %s by %s", row.identifier, license_type.code,
             mask_identity(row.holder_id_type, row.holder_id), principal.client_id)
    return row, True


def create_version(session: Session, *, license_type: LicenseType, department, keyring: KeyRing,
                   artifacts: Artifacts | None, serial: int, version: int, holder: Holder, data: dict, valid_from: date,
                   valid_until: date | None, actor: str, now: datetime, signer: KeySigner | None = None) -> License:
    """Number and sign one version of a license (status index, QR, row); artifacts follow the commit.

    With artifacts None (bulk issuance) nothing is rendered now: QR images and the PDF are rendered
    on first request. The row is inserted at once (Core: the ORM's unit of work costs more than the
    statement); the License returned carries its values but is not attached to the session.
    """
    signer = signer or keyring.signer_for(session, department.id)
    license_id = new_id()
    status_ref = allocate_index(session, department_id=department.id, issuer_code=department.code,
                                license_id=license_id, now=now)
    claims = LicenseClaims(
        type_code=license_type.code, issuer_code=department.code, serial=serial, version=version,
        valid_from=valid_from, valid_until=valid_until, holder_id=holder.id, holder_name=holder.name,
        fields=tuple(data.get(name) for name in license_type.qr_fields), status_ref=status_ref,
    )
    values = dict(
        id=license_id, identifier=claims.identifier, type_code=license_type.code,
        issuer_department_id=department.id, issuer_code=department.code, serial=serial, version=version,
        holder_id_type=holder.id_type, holder_id=holder.id, holder_name=holder.name,
        data=orjson.loads(orjson.dumps(data)), valid_from=valid_from, valid_until=valid_until, status="active",
        status_list_no=status_ref[0], status_index=status_ref[1], superseded_by=None,
        kid=b64url(signer.kid), qr_text=encode_qr(claims, signer), issued_by=actor, issued_at=now,
    )
    session.execute(insert(License.__table__), values)
    row = License(**values)
    if artifacts is not None:
        after_commit(session, artifacts.after_commit(row, session=session, department=department))
    return row


def record_event(session: Session, row: License, action: str, *, actor: str, now: datetime,
                 reason: str | None = None, related: str | None = None) -> None:
    """Append one entry to the license's history, and to the audit log (about its holder)."""
    session.execute(insert(LicenseEvent.__table__), {"license_id": row.id, "action": action, "reason": reason,
                                                     "actor": actor, "at": now, "related": related})
    record(session, license_event(row.identifier, row.type_code, row.issuer_code, row.holder_id, action,
                                  client_id=actor, reason=reason, related=related),
           now=now, pepper=session_pepper(session))


def license_event(identifier: str, type_code: str, issuer_code: str, holder_id: str, action: str, *,
                  client_id: str, reason: str | None = None, related: str | None = None) -> AuditEvent:
    """The audit entry of one change in a license's life ("license.issued", "license.revoked", ...)."""
    return AuditEvent(kind=f"license.{action}", actor=issuer_code, subject=holder_id, data={
        "license_id": identifier, "type_code": type_code, "client_id": client_id, "reason": reason,
        "related": related})


def _replay(session: Session, client_id: str, key: str, digest: str) -> License | None:
    record = session.get(IdempotencyRecord, (client_id, key))
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
    return session.get(License, record.license_id)


def _remember(session: Session, client_id: str, key: str, digest: str, license_id: str, now: datetime) -> None:
    table = IdempotencyRecord.__table__
    insert_new = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    # ON CONFLICT DO NOTHING rather than a savepoint: a concurrent request with the same key that
    # committed first (PostgreSQL waits for it) shows as no row inserted.
    inserted = session.execute(insert_new.values(client_id=client_id, key=key, request_hash=digest,
                                                 license_id=license_id, created_at=now)
                               .on_conflict_do_nothing().returning(table.c.key)).first()
    if inserted is None:
        raise IdempotencyConflict("A request with this Idempotency-Key is already being processed.")


def _stored_holder(row: License) -> Holder:
    """The holder as stored: checked when it was issued, not again under rules that may have changed since."""
    return Holder.model_construct(id_type=row.holder_id_type, id=row.holder_id, name=row.holder_name)


def local_date(now: datetime) -> date:
    """Return the calendar day in China at `now`: the day license dates are counted from."""
    return now.astimezone(CHINA_STANDARD_TIME).date()


def validated_data(license_type: LicenseType, holder: Holder, data: dict, *, today: date) -> dict:
    """Check the holder and the data against the type, dates relative to `today`; every problem at once."""
    errors = []
    if holder.id_type != license_type.holder:
        errors.append({"field": "holder.id_type", "code": "wrong_holder_type",
                       "message": f"{license_type.name} is issued to a {license_type.holder} holder"})
    valid_id = (is_valid_resident_id(holder.id, today=today) if holder.id_type == "resident_id"
                else is_valid_credit_code(holder.id))
    if not valid_id:
        errors.append({"field": "holder.id", "code": "bad_check_character",
                       "message": f"not a valid {holder.id_type} (check character, birth date or format)"})
    try:
        data = validate_license_data(license_type, data, today=today)
    except LicenseDataError as exc:
        errors.extend(exc.errors)
        data = {}
    if errors:
        raise InvalidLicenseData("The license data does not match its type.", errors=errors)
    return data


def _validity(license_type: LicenseType, request, now: datetime) -> tuple[date, date | None]:
    valid_from = request.valid_from or local_date(now)
    valid_until = request.valid_until
    if valid_until is None and license_type.default_validity_days:
        valid_until = valid_from + timedelta(days=license_type.default_validity_days - 1)
    check_validity(valid_from, valid_until, today=local_date(now))
    return valid_from, valid_until


def _next_serial_or_conflict(session: Session, issuer_code: str, type_code: str, year: int) -> int:
    if counts_at_once(session):  # the counter is not held locked until the license commits
        with at_once(session) as connection:
            serials = _bump_serials(connection, issuer_code=issuer_code, type_code=type_code, year=year, count=1)
    else:
        serials = reserve_serials(session, issuer_code=issuer_code, type_code=type_code, year=year, count=1)
    if not serials:
        raise Conflict("The yearly serial range of this license type is exhausted for this issuer.")
    return serials[0]


_COUNTERS = SerialCounter.__table__  # Core: the ORM's bulk update path costs more than the statement


def _counter_key(issuer_code: str, type_code: str, year: int):
    return (_COUNTERS.c.issuer_code == issuer_code) & (_COUNTERS.c.type_code == type_code) & (_COUNTERS.c.year == year)


def reserve_serials(session: Session, *, issuer_code: str, type_code: str, year: int, count: int) -> range:
    """Take the next `count` serials for (issuer, type, year) with one counter update; they are consecutive.

    Serials past the yearly range are not taken: the range returned is shorter (empty once exhausted).
    """
    key = _counter_key(issuer_code, type_code, year)
    bump = update(_COUNTERS).where(key).values(last=_COUNTERS.c.last + count).returning(_COUNTERS.c.last)
    last = session.execute(bump).scalar()
    if last is None:
        try:
            with session.begin_nested():
                session.execute(insert(_COUNTERS).values(issuer_code=issuer_code, type_code=type_code,
                                                         year=year, last=count))
            last = count
        except IntegrityError:
            last = session.execute(bump).scalar_one()
    return _taken(session, last, count, issuer_code=issuer_code, type_code=type_code, year=year)


_UPSERT = postgresql.insert(_COUNTERS).values(issuer_code=bindparam("issuer_code"), type_code=bindparam("type_code"),
                                             year=bindparam("year"), last=bindparam("count"))
_BUMP = _UPSERT.on_conflict_do_update(index_elements=list(_COUNTERS.primary_key),
                                      set_={"last": _COUNTERS.c.last + _UPSERT.excluded.last}
                                      ).returning(_COUNTERS.c.last)


def _bump_serials(connection: Connection, *, issuer_code: str, type_code: str, year: int, count: int) -> range:
    """reserve_serials in one PostgreSQL statement (an upsert), on a connection that commits it at once.

    A serial taken so, for a license whose transaction then fails, is not handed out again: a gap.
    """
    last = connection.execute(_BUMP, {"issuer_code": issuer_code, "type_code": type_code, "year": year,
                                      "count": count}).scalar_one()
    return _taken(connection, last, count, issuer_code=issuer_code, type_code=type_code, year=year)


def _taken(executor: Session | Connection, last: int, count: int, *, issuer_code: str, type_code: str,
           year: int) -> range:
    """The serials up to `last` that fit the yearly range; the counter is set back to the range's end."""
    limit = 10 ** SERIAL_DIGITS - 1
    if last > limit:  # give back what does not fit, so the counter never passes the range
        executor.execute(update(_COUNTERS).where(_counter_key(issuer_code, type_code, year)).values(last=limit))
    first = last - count + 1
    return range(year * 10 ** SERIAL_DIGITS + first, year * 10 ** SERIAL_DIGITS + min(last, limit) + 1)


def get_license(session: Session, identifier: str, *, principal: Principal) -> License:
    """Return a license to its issuer or the operator; to anyone else it does not exist."""
    row = session.scalar(select(License).where(License.identifier == identifier)) if len(identifier) <= 96 else None
    if row is None or not (principal.is_operator or principal.department_id == row.issuer_department_id):
        raise NotFound("No such license.")
    return row


def license_artifact(session: Session, artifacts: Artifacts, identifier: str, name: str, *,
                     principal: Principal) -> bytes:
    """Return a QR image or the signed PDF of a license the caller may see."""
    return artifacts.get(get_license(session, identifier, principal=principal), name)


def license_out(session: Session, row: License, *, types: dict[str, LicenseType], base_url: str) -> LicenseOut:
    """Shape a license for its issuer or the operator."""
    department = department_by_id(session, row.issuer_department_id)  # cached: departments are not edited
    license_type = types.get(row.type_code)
    return LicenseOut(
        id=row.identifier, type=row.type_code, type_name=license_type.name if license_type else row.type_code,
        version=row.version, status=row.status, superseded_by=row.superseded_by,
        issuer=IssuerOut(code=department.code, name=department.name),
        holder=_stored_holder(row), data=row.data,
        valid_from=row.valid_from, valid_until=row.valid_until, issued_at=row.issued_at, qr=row.qr_text,
        links=license_links(row, base_url=base_url),
    )


def license_links(row: License, *, base_url: str) -> LicenseLinks:
    """Link a license's files, history and status-list entries."""
    self_url = f"{base_url}/licenses/{row.identifier}"
    entries = [] if row.status_list_no is None else [
        StatusListEntryLink(purpose=purpose, index=row.status_index,
                            url=f"{base_url}/status-lists/{list_id(row.issuer_code, row.status_list_no, purpose)}")
        for purpose in PURPOSES]
    return LicenseLinks(self=self_url, pdf=f"{self_url}/pdf", vc=f"{self_url}/vc", history=f"{self_url}/history",
                        qr_png=f"{self_url}/qr.png", qr_svg=f"{self_url}/qr.svg", status_lists=entries)


def license_vc(session: Session, identifier: str, *, principal: Principal, types: dict[str, LicenseType],
               keyring: KeyRing, base_url: str) -> str:
    """Export a license the caller may see as a W3C VC 2.0, secured as vc+jwt by its department."""
    row = get_license(session, identifier, principal=principal)
    department = get_department(session, row.issuer_department_id)
    credential = license_credential(row, license_type=types[row.type_code], issuer_name=department.name,
                                    base_url=base_url)
    return sign_vc_jwt(credential, keyring.signer_for(session, department.id))
