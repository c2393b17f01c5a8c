"""The issuance pipeline: the few steps every license goes through, one license or a batch of them.

`check` runs the checks of a request (type, issuer, source path, data, validity) in one order; `license_values`
builds a numbered license's row, its claims signed into the QR text; `insert_licenses` writes the rows and hands
their artifacts to the commit; `record_events` writes their history and audit entries. POST /licenses, batches,
issue-from-source and re-issue all go through these; they differ only in how serials and status list indexes
are taken and how idempotency records are read (hub.licenses.service, hub.licenses.many).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from hub.audit.service import AuditEvent, TransactionSink
from hub.core.dates import check_validity
from hub.core.db import after_commit
from hub.core.errors import Forbidden, ValidationFailed
from hub.core.national_ids import is_valid_credit_code, is_valid_resident_id
from hub.licenses.printing.artifacts import Artifacts
from hub.licenses.models import Holder, LicenseIssue
from hub.licenses.sourcing import require_source_path
from hub.licenses.tables import License, LicenseEvent
from hub.licenses.license_data import LicenseDataError, validate_license_data
from hub.licenses.types import LicenseType
from hub.trust.service import b64url
from hub.trust.signer import KeySigner
from license_verifier.verifier import CHINA_STANDARD_TIME
from hub.trust.signing import encode_qr
from license_verifier.qr import LicenseClaims


class UnknownLicenseType(ValidationFailed):
    code, title = "unknown_license_type", "Unknown license type"


class InvalidLicenseData(ValidationFailed):
    code, title = "invalid_license_data", "The license data does not match its type"


class NotAllowedIssuer(Forbidden):
    code, title = "issuer_not_allowed", "This department may not issue this license type"


@dataclass(frozen=True)
class Checked:
    """A request that passed every check: its holder, its type, its validated data and its validity."""

    holder: Holder
    license_type: LicenseType
    data: dict
    valid_from: date
    valid_until: date | None


def check(request: LicenseIssue, *, department, types: Mapping[str, LicenseType], now: datetime,
          sourced: bool) -> Checked:
    """Run the issuance checks in their order; raise the first failing one's error.

    `sourced`: the request's data was read from its type's source by hub.licenses.sourcing (types bound to a
    source are refused otherwise: a batch carries the caller's data).
    """
    license_type = types.get(request.type)
    if license_type is None:
        raise UnknownLicenseType(f"No license type with code {request.type}.")
    if department.code not in license_type.issuers:
        raise NotAllowedIssuer(f"{department.name} may not issue {license_type.name}.")
    require_source_path(license_type, sourced=sourced)
    if request.from_source:  # the router fills the data from the source first; nothing else may ask for it
        raise ValidationFailed("from_source is taken by POST /licenses only, not in batches.")
    data = validated_data(license_type, request.holder, request.data, today=local_date(now))
    valid_from, valid_until = validity(license_type, request, now)
    return Checked(request.holder, license_type, data, valid_from, valid_until)


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


def validity(license_type: LicenseType, request, now: datetime) -> tuple[date, date | None]:
    """The request's validity, or the type's default from today; checked against today."""
    valid_from = request.valid_from or local_date(now)
    valid_until = request.valid_until
    if valid_until is None and license_type.default_validity_days:
        valid_until = valid_from + timedelta(days=license_type.default_validity_days - 1)
    check_validity(valid_from, valid_until, today=local_date(now))
    return valid_from, valid_until


def license_values(checked: Checked, *, license_id: str, serial: int, version: int, status_ref: tuple[int, int],
                   department, signer: KeySigner, actor: str, now: datetime) -> dict:
    """The licenses row of one numbered version, its claims signed into the QR text."""
    holder, license_type = checked.holder, checked.license_type
    claims = LicenseClaims(
        type_code=license_type.code, issuer_code=department.code, serial=serial, version=version,
        valid_from=checked.valid_from, valid_until=checked.valid_until, holder_id=holder.id,
        holder_name=holder.name, fields=tuple(checked.data.get(name) for name in license_type.qr_fields),
        status_ref=status_ref)
    return {"id": license_id, "identifier": claims.identifier, "type_code": license_type.code,
            "issuer_department_id": department.id, "issuer_code": department.code, "serial": serial,
            "version": version, "holder_id_type": holder.id_type, "holder_id": holder.id, "holder_name": holder.name,
            "data": orjson.loads(orjson.dumps(checked.data)), "valid_from": checked.valid_from,
            "valid_until": checked.valid_until, "status": "active", "status_list_no": status_ref[0],
            "status_index": status_ref[1], "superseded_by": None, "kid": b64url(signer.kid),
            "qr_text": encode_qr(claims, signer), "issued_by": actor, "issued_at": now}


def insert_licenses(session: Session, rows: Sequence[dict], *, department, artifacts: Artifacts | None) -> None:
    """Insert the rows with one statement (Core: the ORM's unit of work costs more); artifacts follow the commit.

    With artifacts None (batches) nothing is rendered now: QR images and the PDF are rendered on first request.
    """
    if not rows:
        return
    session.execute(insert(License.__table__), list(rows))
    if artifacts is not None:
        for row in rows:
            after_commit(session, artifacts.after_commit(License(**row), session=session, department=department))


def record_events(session: Session, rows: Sequence[Mapping], action: str, *, actor: str, now: datetime,
                  reason: str | None = None, related: str | None = None) -> None:
    """Append one entry to each license's history, and to the audit log (about its holder)."""
    if not rows:
        return
    session.execute(insert(LicenseEvent.__table__), [
        {"license_id": row["id"], "action": action, "reason": reason, "actor": actor, "at": now, "related": related}
        for row in rows])
    TransactionSink(session).append([
        license_event(row["identifier"], row["type_code"], row["issuer_code"], row["holder_id"], action,
                      client_id=actor, reason=reason, related=related) for row in rows], now=now)


def license_event(identifier: str, type_code: str, issuer_code: str, holder_id: str, action: str, *,
                  client_id: str, reason: str | None = None, related: str | None = None) -> AuditEvent:
    """The audit entry of one change in a license's life ("license.issued", "license.revoked", ...)."""
    return AuditEvent(kind=f"license.{action}", actor=issuer_code, subject=holder_id, data={
        "license_id": identifier, "type_code": type_code, "client_id": client_id, "reason": reason,
        "related": related})


def facts(row: License) -> dict:
    """What record_events needs of a stored license."""
    return {"id": row.id, "identifier": row.identifier, "type_code": row.type_code, "issuer_code": row.issuer_code,
            "holder_id": row.holder_id}
