"""Issue e-licenses: validate, number, sign, render the QR, store; and read them back."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.tokens import Principal
from hub.core.db import new_id
from hub.core.errors import NotFound
from hub.core.idempotency import body_hash, remember, replayed
from hub.core.national_ids import mask_identity
from hub.licenses.printing.artifacts import Artifacts
from hub.licenses.models import Holder, IssuerOut, LicenseIssue, LicenseLinks, LicenseOut, StatusListEntryLink
from hub.licenses.pipeline import Checked, check, facts, insert_licenses, license_values, record_events
from hub.licenses.serials import next_serial
from hub.licenses.tables import License
from hub.licenses.types import LicenseType
from hub.licenses.vc import license_credential, sign_vc_jwt
from hub.departments.service import get_department
from hub.departments.service import department_by_id
from hub.status.service import allocate_index
from hub.trust.service import KeyRing
from hub.trust.signer import KeySigner
from license_verifier.statuslist import PURPOSES, list_id

log = logging.getLogger("hub.licenses")
LICENSE = "license"  # the idempotency records' operation of issuance (POST /licenses and batch rows alike)


def issue_license(session: Session, request: LicenseIssue, *, principal: Principal, types: dict[str, LicenseType],
                  keyring: KeyRing, artifacts: Artifacts | None, idempotency_key: str | None,
                  now: datetime, sourced: bool = False) -> tuple[License, bool]:
    """Issue one license; returns it and whether it was newly created (False: an idempotent replay).

    `sourced`: the request's data was read from its type's source by hub.licenses.sourcing (types bound to a
    source are refused otherwise).
    """
    digest = body_hash(request) if idempotency_key is not None else ""
    known = replayed(session, client_id=principal.client_id, key=idempotency_key, operation=LICENSE, digest=digest)
    if known is not None:
        return session.get(License, known), False
    department = department_by_id(session, principal.department_id or "")  # cached: departments are not edited
    checked = check(request, department=department, types=types, now=now, sourced=sourced)
    signer = keyring.signer_for(session, department.id)
    # From the serial on, the transaction holds the issuer's counter rows until it commits: keep it short.
    serial = next_serial(session, department.code, checked.license_type.code, checked.valid_from.year)
    row = create_version(session, checked, department=department, keyring=keyring, artifacts=artifacts,
                         serial=serial, version=1, actor=principal.client_id, now=now, signer=signer)
    record_event(session, row, "issued", actor=principal.client_id, now=now)
    remember(session, client_id=principal.client_id, key=idempotency_key, operation=LICENSE, digest=digest,
             resource_id=row.id, now=now)
    log.info("issued %s (%s) to %s by %s", row.identifier, checked.license_type.code,
             mask_identity(row.holder_id_type, row.holder_id), principal.client_id)
    return row, True


def create_version(session: Session, checked: Checked, *, department, keyring: KeyRing,
                   artifacts: Artifacts | None, serial: int, version: int, actor: str, now: datetime,
                   signer: KeySigner | None = None) -> License:
    """Number and sign one version of a license (status index, QR, row); artifacts follow the commit.

    The License returned carries its values but is not attached to the session.
    """
    signer = signer or keyring.signer_for(session, department.id)
    license_id = new_id()
    status_ref = allocate_index(session, department_id=department.id, issuer_code=department.code,
                                license_id=license_id, now=now)
    values = license_values(checked, license_id=license_id, serial=serial, version=version, status_ref=status_ref,
                            department=department, signer=signer, actor=actor, now=now)
    insert_licenses(session, [values], department=department, artifacts=artifacts)
    return License(**values)


def record_event(session: Session, row: License, action: str, *, actor: str, now: datetime,
                 reason: str | None = None, related: str | None = None) -> None:
    """Append one entry to the license's history, and to the audit log (about its holder)."""
    record_events(session, [facts(row)], action, actor=actor, now=now, reason=reason, related=related)


def _stored_holder(row: License) -> Holder:
    """The holder as stored: checked when it was issued, not again under rules that may have changed since."""
    return Holder.model_construct(id_type=row.holder_id_type, id=row.holder_id, name=row.holder_name)


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
