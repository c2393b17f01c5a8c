"""Request and response bodies for /verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qr: str = Field(max_length=4096)


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
    status_list_age: int | None = Field(default=None, description="seconds since the status lists used were issued")
    superseded_by: str | None = Field(
        default=None, description="for a re-issued license: the identifier of the new version")
