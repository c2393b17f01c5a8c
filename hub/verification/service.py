"""The hub's online verification: the offline check, plus status lists and the hub's own records.

The trust list (with its verifier, built once per trust list) and the status lists are read from memory while
fresh; a reload, and the look-up of a license the hub issued, take a thread of the pool (they read the database).
"""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.audit.runtime import AuditLog
from hub.audit.service import AuditEvent
from hub.core.clock import Clock
from hub.core.national_ids import mask_identity
from hub.licenses.tables import License
from hub.status.service import StatusCache
from hub.trust.cache import TrustCache
from license_verifier.verdict import Result, Status


class Verification:
    """Verify against the trust list, the status lists and, for compromised keys, the issuance records."""

    def __init__(self, *, trust: TrustCache, status: StatusCache, session_factory: sessionmaker[Session],
                 audit: AuditLog, clock: Clock) -> None:
        self._trust, self._status, self._factory, self._audit, self._clock = (
            trust, status, session_factory, audit, clock)

    async def check(self, qr_text: str) -> dict:
        """The counter's answer (the VerifyOut shape) for a QR text; the verification is audited."""
        verifier = self._trust.verifier() if self._trust.fresh else await run_in_threadpool(self._trust.verifier)
        lists = self._status.held()
        if lists is None:
            lists = await run_in_threadpool(self._status.lists)
        now = self._clock()
        result = verifier.verify(qr_text, now, lists, offline_compromise_rule=False)
        superseding = None
        issuer = _signing_issuer(verifier.trust, result)
        if issuer is not None and (issuer.compromised_since is not None or result.status is Status.REVOKED):
            record = await run_in_threadpool(_record, self._factory, result.license["id"])
            if issuer.compromised_since is not None and not _issued_before(record, result, issuer.compromised_since):
                result = Result.of(Status.UNKNOWN_ISSUER, issuer=result.issuer, reason="key_compromised")
            elif result.status is Status.REVOKED and record is not None and record[2]:
                superseding = record[2]
                result = Result.of(Status.REVOKED, license=result.license, issuer=result.issuer,
                                   reason="superseded", status_list=result.status_list)
        self._audit.queue.append([verification_event(result)], now=now)
        return counter_answer(result, now) | {"superseded_by": superseding}


def verification_event(result: Result) -> AuditEvent:
    """The audit entry of one verification: which license, what answer; the holder only as the entry's subject."""
    license = result.license or {}
    holder = license.get("holder") or {}
    return AuditEvent(kind="license.verify", actor="anonymous", subject=holder.get("id") or None, data={
        "license_id": license.get("id"), "status": str(result.status), "reason": result.reason,
        "issuer_code": (result.issuer or {}).get("code")})


def _signing_issuer(trust, result: Result):
    """Return the trusted issuer whose key signed a verified license, or None."""
    if result.license is None:
        return None
    kid = result.issuer["kid"]
    return trust.issuers.get(base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4)))


def _record(session_factory: sessionmaker[Session], identifier: str) -> tuple[str, datetime, str | None] | None:
    """Return (kid, issued_at, superseded_by) of a license the hub issued, or None."""
    with session_factory() as session:
        row = session.execute(select(License.kid, License.issued_at, License.superseded_by)
                              .where(License.identifier == identifier)).first()
        return tuple(row) if row else None


def _issued_before(record, result: Result, since: datetime) -> bool:
    return record is not None and record[0] == result.issuer["kid"] and record[1] < since


def counter_answer(result: Result, now: datetime) -> dict:
    """Shape a result for the counter (the VerifyOut shape), resident id masked."""
    license = result.license
    if license is not None and license["holder"]["id_type"] == "resident_id":
        holder = dict(license["holder"])
        holder["id"] = mask_identity(holder["id_type"], holder["id"])
        license = {**license, "holder": holder}
    return {"valid": result.valid, "status": str(result.status), "license": license, "issuer": result.issuer,
            "reason": result.reason, "message": result.message, "message_en": result.message_en,
            "checked_at": now.isoformat().replace("+00:00", "Z"),
            "status_list": None if result.status_list is None else result.status_list.as_json()}
