"""Request and response bodies of the exchange: queries, receipts, consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.core.text import Line
from hub.catalogue.models import Purpose
from hub.departments.models import Owner

FIELD_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class ExchangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=32, description="公民身份号码 or 统一社会信用代码")
    fields: list[str] = Field(min_length=1, max_length=200)
    purpose: Purpose = Field(description="用证事由 (required, ≤ 200 characters): exactly a purpose the requester's "
                                         "grant on the source was approved for")
    detail: Line | None = Field(default=None, max_length=200,
                                description="optional reference of the case, e.g. 案件编号 or 业务流水号 (≤ 200 "
                                            "characters): kept in the audit log, the receipt and the citizen's "
                                            "access log")
    consent: str | None = Field(default=None, min_length=1, max_length=32,
                                description="id of the citizen's consent, needed for sensitive personal fields")

    @field_validator("fields")
    @classmethod
    def _names(cls, fields: list[str]) -> list[str]:
        if len(set(fields)) != len(fields):
            raise ValueError("field names must be unique")
        return fields


class AuditRefOut(BaseModel):
    entry_id: str
    leaf_hash: str = Field(description="RFC 6962 leaf hash (base64): ask GET /audit/entries/{entry_id}/proof")


class ExchangeAnswer(BaseModel):
    source: str
    subject: str = Field(description="masked")
    found: bool
    record: dict[str, Any] | None = Field(description="only the requested fields that are granted")
    withheld: list[str] = Field(description="requested fields the grant does not cover (not returned)")
    receipt: str = Field(description="JWS (ES256, hub root key, typ exchange-receipt+jwt): keep it as evidence")
    audit: AuditRefOut


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=18, max_length=18, description="the citizen's resident id")
    source: str = Field(min_length=1, max_length=64)
    fields: list[str] = Field(min_length=1, max_length=200)
    purpose: Purpose = Field(description="the purpose the queries will state")
    valid_days: int = Field(default=30, ge=1, le=365)


class ConsentOut(BaseModel):
    id: str
    subject: str = Field(description="masked")
    requester: Owner
    source: str
    source_name: str
    fields: list[str]
    purpose: str
    status: Literal["pending", "approved", "rejected", "revoked", "expired"]
    created_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
