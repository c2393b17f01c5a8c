"""Suspend, reinstate, revoke and re-issue licenses; every change is recorded with who, when and why.

A license of a type bound to a source (`from_source`) is re-issued with its data read again from the source, never
with the caller's: a re-issue re-checks what the source says today (an employer now in wage arrears gets no new
version, and the old one stays as it was).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.auth.tokens import Principal
from hub.core.errors import Conflict, NotFound
from hub.exchange.service import ExchangeDesk
from hub.licenses.printing.artifacts import Artifacts
from hub.licenses.models import LicenseIssue, ReissueRequest
from hub.licenses.pipeline import Checked, local_date, validated_data, validity
from hub.licenses.service import _stored_holder, create_version, get_license, record_event
from hub.licenses.sourcing import IssuedFromSourceOnly, data_from_source
from hub.licenses.tables import License, LicenseEvent
from hub.licenses.types import LicenseType
from hub.departments.service import get_department
from hub.status.service import set_status
from hub.trust.service import KeyRing

# action -> (statuses it applies to, new status, status list purpose, bit value)
TRANSITIONS = {
    "suspend": ({"active"}, "suspended", "suspension", True),
    "reinstate": ({"suspended"}, "active", "suspension", False),
    "revoke": ({"active", "suspended"}, "revoked", "revocation", True),
}
PAST = {"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "The license cannot make this change in its current status"


def _own_license(session: Session, identifier: str, principal: Principal) -> License:
    row = get_license(session, identifier, principal=principal)
    if row.issuer_department_id != principal.department_id:
        raise NotFound("No such license.")  # the operator may read, only the issuer may change
    return row


def change_status(session: Session, identifier: str, action: str, *, reason: str, principal: Principal,
                  now: datetime) -> License:
    """Apply suspend, reinstate or revoke, flip the status list bit and record the event."""
    row = _own_license(session, identifier, principal)
    allowed, new_status, purpose, bit = TRANSITIONS[action]
    if row.status not in allowed:
        raise InvalidTransition(f"A {row.status} license cannot be {PAST[action]}.", license_status=row.status)
    _flip(session, row, purpose, bit, now)
    row.status = new_status
    record_event(session, row, PAST[action], actor=principal.client_id, now=now, reason=reason)
    return row


def _flip(session: Session, row: License, purpose: str, value: bool, now: datetime) -> None:
    if row.status_list_no is not None:  # licenses issued before status lists carry no index
        set_status(session, issuer_code=row.issuer_code, list_no=row.status_list_no, index=row.status_index,
                   purpose=purpose, value=value, now=now)


async def reissue(session: Session, identifier: str, request: ReissueRequest, *, principal: Principal,
                  types: dict[str, LicenseType], keyring: KeyRing, artifacts: Artifacts, exchange: ExchangeDesk,
                  now: datetime) -> License:
    """Re-issue a license; for a type bound to a source, read the source again first (in the same transaction)."""
    old, license_type = await run_in_threadpool(reissue_target, session, identifier, request, principal=principal,
                                                types=types)
    sourced = None
    if license_type.from_source is not None:
        holder = _stored_holder(old)
        fresh = await data_from_source(session, LicenseIssue(type=old.type_code, holder=holder, from_source=True),
                                       types=types, principal=principal, exchange=exchange, now=now,
                                       detail=f"换发{license_type.name} {old.identifier}")
        sourced = fresh.data
    return await run_in_threadpool(partial(reissue_license, session, identifier, request, principal=principal,
                                           types=types, keyring=keyring, artifacts=artifacts, now=now,
                                           sourced=sourced))


def reissue_target(session: Session, identifier: str, request: ReissueRequest, *, principal: Principal,
                   types: dict[str, LicenseType]) -> tuple[License, LicenseType]:
    """The caller's license to re-issue and its type; refused when it cannot be re-issued as asked."""
    old = _own_license(session, identifier, principal)
    if old.status == "revoked":
        raise InvalidTransition("A revoked license cannot be re-issued.", license_status=old.status)
    license_type = types.get(old.type_code)
    if license_type is None or old.version >= 999:
        raise Conflict("This license can no longer be re-issued.")
    if license_type.from_source is not None and request.data:
        raise IssuedFromSourceOnly(f"{license_type.name} is re-issued with its data read again from "
                                   f"{license_type.from_source.source}: send no data.",
                                   source=license_type.from_source.source)
    return old, license_type


def reissue_license(session: Session, identifier: str, request: ReissueRequest, *, principal: Principal,
                    types: dict[str, LicenseType], keyring: KeyRing, artifacts: Artifacts, now: datetime,
                    sourced: dict | None = None) -> License:
    """Issue version + 1 with changed data; the old version is revoked as superseded and points to it.

    `sourced`: for a type bound to a source, the data just read from it (`reissue` reads it); required for one.
    """
    old, license_type = reissue_target(session, identifier, request, principal=principal, types=types)
    if license_type.from_source is not None and sourced is None:
        raise IssuedFromSourceOnly(f"{license_type.name} is re-issued only with its data read again from "
                                   f"{license_type.from_source.source}.", source=license_type.from_source.source)
    holder = _stored_holder(old)
    data = validated_data(license_type, holder, {**old.data, **request.data} if sourced is None else sourced,
                          today=local_date(now))
    valid_from, valid_until = validity(license_type, request, now)
    department = get_department(session, old.issuer_department_id)
    new = create_version(session, Checked(holder, license_type, data, valid_from, valid_until), department=department,
                         keyring=keyring, artifacts=artifacts, serial=old.serial, version=old.version + 1,
                         actor=principal.client_id, now=now)
    _flip(session, old, "revocation", True, now)
    old.status, old.superseded_by = "revoked", new.identifier
    record_event(session, old, "superseded", actor=principal.client_id, now=now, reason=request.reason,
                 related=new.identifier)
    record_event(session, new, "reissued", actor=principal.client_id, now=now, reason=request.reason,
                 related=old.identifier)
    return new


def license_history(session: Session, identifier: str, *, principal: Principal) -> list[LicenseEvent]:
    """Return the events of a license the caller may see, oldest first."""
    row = get_license(session, identifier, principal=principal)
    return list(session.scalars(select(LicenseEvent).where(LicenseEvent.license_id == row.id)
                                .order_by(LicenseEvent.at, LicenseEvent.id)))
