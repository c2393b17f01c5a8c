"""Request and response bodies for /verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qr: str = Field(max_length=4096)


class StatusListOut(BaseModel):
    fetched_at: datetime = Field(description="when the verifier's copy of the license's status lists was fetched "
                                             "(the hub reloads its copy at least every 5 seconds)")
    age_seconds: int = Field(description="seconds from fetched_at to checked_at: how old the copy was")
    updated_at: datetime = Field(description="when the hub last changed those lists (the later of the revocation "
                                             "and the suspension list's validFrom)")


class VerifyOut(BaseModel):
    valid: bool
    status: Literal["valid", "revoked", "suspended", "expired", "not_yet_valid", "bad_signature",
                    "unknown_issuer", "malformed"]
    license: dict[str, Any] | None
    issuer: dict[str, Any] | None
    reason: str | None = Field(
        default=None, description="machine code of the check that decided (e.g. signature_mismatch, key_compromised)")
    message: str
    message_en: str
    checked_at: datetime
    status_list: StatusListOut | None = Field(
        default=None, description="the status lists consulted; null when none was (the status was not checked)")
    superseded_by: str | None = Field(
        default=None, description="for a re-issued license: the identifier of the new version")
