"""Request and response bodies for licenses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.core.dates import RequestDate
from hub.core.text import Name, Text


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_type: Literal["resident_id", "credit_code"]
    id: str = Field(min_length=18, max_length=18)
    name: Name = Field(max_length=100)


class LicenseIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=21, max_length=21, description="license type code")
    holder: Holder
    data: dict[str, Any] = Field(default_factory=dict)
    valid_from: RequestDate | None = None
    valid_until: RequestDate | None = None
    from_source: bool = Field(default=False, description="take the data from the type's source, through the exchange")


class IssuerOut(BaseModel):
    code: str
    name: str


class StatusListEntryLink(BaseModel):
    purpose: Literal["revocation", "suspension"]
    url: str = Field(description="the signed status list (GET it: vc+jwt, W3C Bitstring Status List)")
    index: int = Field(ge=0, description="this license's bit in that list")


class LicenseLinks(BaseModel):
    """Everything about the license, by URL."""

    self: str
    pdf: str = Field(description="the signed PDF (application/pdf)")
    vc: str = Field(description="the W3C VC 2.0 export (application/vc+jwt)")
    history: str = Field(description="who changed what, when and why")
    qr_png: str
    qr_svg: str
    status_lists: list[StatusListEntryLink] = Field(description="its entries in the issuer's status lists")


class LicenseOut(BaseModel):
    id: str = Field(description="证照标识 (GB/T 36904)")
    type: str
    type_name: str
    version: int
    status: str
    superseded_by: str | None = None
    issuer: IssuerOut
    holder: Holder
    data: dict[str, Any]
    valid_from: date
    valid_until: date | None
    issued_at: datetime
    qr: str
    links: LicenseLinks


class LicenseTypeFieldOut(BaseModel):
    name: str
    type: str
    required: bool
    label: str
    label_en: str | None = None
    max_length: int | None = None
    format: str | None = Field(default=None, description="resident_id, credit_code, name or multiline (strings)")
    earliest: date | str | None = Field(default=None, description="dates: the earliest allowed (a date or today±N)")
    latest: date | str | None = Field(default=None, description="dates: the latest allowed (a date or today±N)")


class LicenseTypeOut(BaseModel):
    code: str
    name: str
    name_en: str
    holder: str
    fields: list[LicenseTypeFieldOut]
    qr_fields: list[str]
    default_validity_days: int | None
    issuers: list[str]


class LifecycleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500, description="why (recorded in the license history)")


class ReissueRequest(LifecycleChange):
    data: dict[str, Any] = Field(default_factory=dict, description="changed fields; the rest is kept")
    valid_from: RequestDate | None = None
    valid_until: RequestDate | None = None


class LicenseEventOut(BaseModel):
    action: str
    reason: str | None
    actor: str
    at: datetime
    related: str | None
