"""The verdict of a verification: its status, the license and issuer it found, and the counter's messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from license_verifier.frozen import build
from license_verifier.messages import messages_for


class Status(StrEnum):
    """The outcome of a verification; the value is the API's status word."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ISSUER = "unknown_issuer"
    MALFORMED = "malformed"
    # Set only when status lists are given (the hub's online check, or an offline verifier's cache).
    REVOKED = "revoked"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class StatusListFreshness:
    """How current the status lists behind an answer were: the verifier's copy apart from the list's last change."""

    fetched_at: datetime | None  # when the verifier fetched its copy (the older of the two lists); None: not known
    updated_at: datetime  # when the lists last changed, as signed by the hub (validFrom; the later of the two)
    age_seconds: int | None  # seconds from fetched_at to the verification instant; None: not known

    def as_json(self) -> dict:
        """Return the JSON form, times in RFC 3339 with Z."""
        def text(value: datetime | None) -> str | None:
            return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

        return {"fetched_at": text(self.fetched_at), "age_seconds": self.age_seconds,
                "updated_at": text(self.updated_at)}


@dataclass(frozen=True)
class Result:
    """A verification answer; ``reason`` is a machine code saying which check decided it."""

    status: Status
    license: dict | None
    issuer: dict | None
    message: str
    message_en: str
    reason: str | None = None
    status_list: StatusListFreshness | None = None  # None: no status list was at hand, the status was not checked

    @property
    def valid(self) -> bool:
        """Return whether the license may be accepted."""
        return self.status is Status.VALID

    @classmethod
    def of(cls, status: Status, *, license: dict | None = None, issuer: dict | None = None,
           reason: str | None = None, status_list: StatusListFreshness | None = None) -> Result:
        """Build a result with the status's standard messages."""
        message, message_en = messages_for(status.value, reason)
        return build(cls, status=status, license=license, issuer=issuer, message=message, message_en=message_en,
                     reason=reason, status_list=status_list)
