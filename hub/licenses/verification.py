"""Shape an offline verification result for the counter: least data, identity numbers masked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select

from hub.core.ids import mask_identity
from hub.licenses.tables import License
from hub.verify.core import verify
from hub.verify.statuslist import StatusListView
from hub.verify.trustlist import TrustList


def verify_for_counter(qr_text: str, trust: TrustList, *, now: datetime,
                       status_lists: Mapping[str, StatusListView] | None = None) -> dict:
    """Verify a QR and mask the holder's resident id in the answer (the VerifyOut shape)."""
    result = verify(qr_text, trust, now, status_lists)
    license = result.license
    if license is not None and license["holder"]["id_type"] == "resident_id":
        holder = dict(license["holder"])
        holder["id"] = mask_identity(holder["id_type"], holder["id"])
        license = {**license, "holder": holder}
    return {"valid": result.valid, "status": str(result.status), "license": license, "issuer": result.issuer,
            "message": result.message, "message_en": result.message_en,
            "checked_at": now.isoformat().replace("+00:00", "Z"), "status_list_age": result.status_list_age}


def superseded_by(session_factory, identifier: str) -> str | None:
    """Return the identifier of the version that replaced a license, if it was re-issued."""
    with session_factory() as session:
        return session.scalar(select(License.superseded_by).where(License.identifier == identifier))
