"""Issue from source: a license's data pulled through the exchange (granted, audited) instead of from the caller.

A license type with `from_source` is issued only this way: `require_source_path` refuses the caller's own data for
it (`issued_from_source_only`) on every path, POST /licenses, batches and re-issue alike.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from hub.auth.tokens import Principal
from hub.core.errors import HubError, ValidationFailed
from hub.exchange.models import ExchangeQuery
from hub.exchange.service import ExchangeDesk
from hub.licenses.models import LicenseIssue
from hub.licenses.types import LicenseType


class IssuedFromSourceOnly(ValidationFailed):
    code, title = "issued_from_source_only", "This license type is issued only with data read from its source"


class SourceRefusesIssuance(HubError):
    status, code, title = 422, "source_refuses_issuance", "The source's record does not allow this license"


def require_source_path(license_type: LicenseType, *, sourced: bool) -> None:
    """Refuse the caller's own data for a type bound to a source: its data comes from the source or not at all."""
    if license_type.from_source is not None and not sourced:
        raise IssuedFromSourceOnly(
            f"{license_type.name} is issued only with the data its source ({license_type.from_source.source}) "
            "holds: send POST /licenses with \"from_source\": true and no data.",
            source=license_type.from_source.source)


async def data_from_source(session: Session, request: LicenseIssue, *, types: dict[str, LicenseType],
                           principal: Principal, exchange: ExchangeDesk, now: datetime,
                           detail: str | None = None) -> LicenseIssue:
    """Fill the request's data from the type's source; refuse when the source has no record or forbids it.

    The query states the type's `from_source.purpose` and, as its detail, what it is for (default: 签发 + the
    type's name); it goes through the exchange's own path, its audit entry in the issuance's transaction.
    """
    license_type = types.get(request.type)
    if license_type is None:
        raise ValidationFailed(f"Unknown license type {request.type!r}: see GET /license-types.")
    binding = license_type.from_source
    if binding is None:
        raise ValidationFailed(f"License type {license_type.code} does not take its data from a source.")
    if request.data:
        raise IssuedFromSourceOnly(f"{license_type.name} takes its data from {binding.source} only: leave `data` "
                                   "empty.", source=binding.source)
    wanted = sorted(set(binding.fields.values()) | set(binding.require))
    query = ExchangeQuery(subject=request.holder.id, fields=wanted, purpose=binding.purpose,
                          detail=(detail or f"签发{license_type.name}")[:200])
    answer = await exchange.answer_within(session, binding.source, query, principal=principal, now=now)
    if not answer.found:
        raise SourceRefusesIssuance(f"{binding.source} has no record for this holder.")
    record = answer.record or {}
    for name, expected in binding.require.items():
        if name not in record or record[name] != expected:
            raise SourceRefusesIssuance(f"{binding.source} shows {name} = {record.get(name)!r}; "
                                        f"this license needs {expected!r}.")
    data = {field: _plain(record[src]) for field, src in binding.fields.items() if src in record}
    return request.model_copy(update={"data": data, "from_source": False})


def _plain(value: Any) -> Any:
    """Database values as the license validator expects them (dates as ISO text, decimals as numbers)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
