"""Shape an offline verification result for the counter: least data, identity numbers masked."""

from __future__ import annotations

from datetime import datetime

from hub.core.ids import mask_identity
from hub.verify.core import verify
from hub.verify.trustlist import TrustList


def verify_for_counter(qr_text: str, trust: TrustList, *, now: datetime) -> dict:
    """Verify a QR and mask the holder's resident id in the answer (the VerifyOut shape)."""
    result = verify(qr_text, trust, now)
    license = result.license
    if license is not None and license["holder"]["id_type"] == "resident_id":
        holder = dict(license["holder"])
        holder["id"] = mask_identity(holder["id_type"], holder["id"])
        license = {**license, "holder": holder}
    return {"valid": result.valid, "status": str(result.status), "license": license, "issuer": result.issuer,
            "message": result.message, "message_en": result.message_en,
            "checked_at": now.isoformat().replace("+00:00", "Z")}
