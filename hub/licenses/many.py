"""Issue many licenses in one transaction: the batch path, with a few statements per group of licenses.

`issue_many` does what `issue_license` does for each request, through the same pipeline (hub.licenses.pipeline:
same checks, same errors, same rows, events and audit entries) and the same idempotency records, but reserves
serials with one counter update per license type and year, allocates status list indexes for all at once, and
writes each step with one statement for all. It renders nothing: QR images and PDFs of batch-issued licenses are
rendered from the committed record on first request. The caller owns the transaction; an IntegrityError (another
transaction committed one of these idempotency keys meanwhile) leaves the caller to roll back and try again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.tokens import Principal
from hub.core.db import new_id
from hub.core.errors import Conflict, HubError
from hub.core.idempotency import IdempotencyConflict, body_hash, remember_many, replayed_many
from hub.licenses.models import LicenseIssue
from hub.licenses.pipeline import Checked, check, insert_licenses, license_values, record_events
from hub.licenses.serials import reserve_serials
from hub.licenses.service import LICENSE
from hub.licenses.tables import License
from hub.licenses.types import LicenseType
from hub.departments.service import department_by_id
from hub.status.service import allocate_indexes
from hub.trust.service import KeyRing

log = logging.getLogger("hub.licenses")


@dataclass(frozen=True)
class IssueOutcome:
    """What became of one request: its license (new, or the one its key already issued), or its error."""

    identifier: str | None = None
    created: bool = False
    error: HubError | None = None


@dataclass(frozen=True)
class _Pending:
    position: int
    key: str | None
    digest: str
    checked: Checked


def issue_many(session: Session, requests: Sequence[tuple[LicenseIssue, str | None]], *, principal: Principal,
               types: dict[str, LicenseType], keyring: KeyRing, now: datetime) -> list[IssueOutcome]:
    """Issue each (request, idempotency key) as issue_license would; one outcome per request, in order.

    A type bound to a source is refused (issued_from_source_only): a batch carries the caller's data, and its
    licenses are issued one by one with POST /licenses and from_source.
    """
    department = department_by_id(session, principal.department_id or "")  # cached: departments are not edited
    replays = _replays(session, principal.client_id, [key for _, key in requests if key is not None])
    outcomes: list[IssueOutcome | None] = [None] * len(requests)
    pending: list[_Pending] = []
    first_of: dict[str, _Pending] = {}
    repeats: list[tuple[int, _Pending, str]] = []  # a key used twice in this call: answered by its first use
    for position, (request, key) in enumerate(requests):
        digest = body_hash(request)
        if key is not None and key in replays:
            outcomes[position] = _replay(replays[key], digest)
        elif key is not None and key in first_of:
            repeats.append((position, first_of[key], digest))
        else:
            try:
                item = _Pending(position, key, digest,
                                check(request, department=department, types=types, now=now, sourced=False))
            except HubError as exc:
                outcomes[position] = IssueOutcome(error=exc)
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


def _replay(known: tuple[str, str | None], digest: str) -> IssueOutcome:
    recorded_digest, identifier = known
    if recorded_digest != digest:
        return IssueOutcome(error=IdempotencyConflict(IdempotencyConflict.reused))
    return IssueOutcome(identifier=identifier, created=False)


def _replays(session: Session, client_id: str, keys: list[str]) -> dict[str, tuple[str, str]]:
    """Return {key: (request hash, license identifier)} for the keys this client has used already."""
    known = replayed_many(session, client_id=client_id, keys=keys, operation=LICENSE)
    if not known:
        return {}
    ids = {license_id for _, license_id in known.values()}
    identifiers = dict(session.execute(select(License.id, License.identifier).where(License.id.in_(ids))).all())
    return {key: (digest, identifiers[license_id]) for key, (digest, license_id) in known.items()}


def _issue(session: Session, pending: list[_Pending], *, department, principal: Principal, keyring: KeyRing,
           now: datetime) -> list[IssueOutcome]:
    """Number, index, sign and insert the checked requests."""
    if not pending:
        return []
    try:
        signer = keyring.signer_for(session, department.id)
    except HubError as exc:
        return [IssueOutcome(error=exc) for _ in pending]
    serials = _serials(session, pending, department.code)
    numbered = [(item, serial, new_id()) for item, serial in zip(pending, serials) if serial is not None]
    refs = allocate_indexes(session, department_id=department.id, issuer_code=department.code,
                            license_ids=[license_id for _, _, license_id in numbered], now=now)
    licenses = [license_values(item.checked, license_id=license_id, serial=serial, version=1, status_ref=ref,
                               department=department, signer=signer, actor=principal.client_id, now=now)
                for (item, serial, license_id), ref in zip(numbered, refs)]
    insert_licenses(session, licenses, department=department, artifacts=None)
    record_events(session, licenses, "issued", actor=principal.client_id, now=now)
    remember_many(session, [(item.key, item.digest, license_id) for item, _, license_id in numbered
                            if item.key is not None], client_id=principal.client_id, operation=LICENSE, now=now)
    log.info("issued %d licenses in one batch by %s", len(licenses), principal.client_id)
    identifiers = {item.position: row["identifier"] for (item, _, _), row in zip(numbered, licenses)}
    exhausted = Conflict("The yearly serial range of this license type is exhausted for this issuer.")
    return [IssueOutcome(identifier=identifiers[item.position], created=True) if item.position in identifiers
            else IssueOutcome(error=exhausted) for item in pending]


def _serials(session: Session, pending: list[_Pending], issuer_code: str) -> list[int | None]:
    """Reserve consecutive serials per (type, year), in request order; None where the range is exhausted."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, item in enumerate(pending):
        groups.setdefault((item.checked.license_type.code, item.checked.valid_from.year), []).append(i)
    serials: list[int | None] = [None] * len(pending)
    for (type_code, year), members in groups.items():
        taken = reserve_serials(session, issuer_code=issuer_code, type_code=type_code, year=year, count=len(members))
        for i, serial in zip(members, taken):
            serials[i] = serial
    return serials
