"""Request and response bodies for the catalogue (data sources) and grants."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.core.text import Line, Name, Text
from hub.departments.models import Owner
from license_verifier.identifiers import is_valid_credit_code

Sensitivity = Literal["public", "internal", "personal", "sensitive_personal"]
FieldType = Literal["string", "integer", "number", "date", "boolean"]
SubjectKey = Literal["resident_id", "credit_code"]
SharingClass = Literal["unconditional", "conditional", "not_shared"]
Frequency = Literal["realtime", "daily", "weekly", "monthly", "yearly"]
NAME = r"^[a-z][a-z0-9_]{0,63}$"
SOURCE_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_SPACES = re.compile(r"\s+")


def normalise_purpose(text: str) -> str:
    """Return a stated purpose as grants, consents and queries compare it: NFC, whitespace runs as one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _purpose(text: str) -> str:
    text = normalise_purpose(text)
    if not text:
        raise ValueError("must not be blank")
    return text


# 用途 / 用证事由: stored and compared normalised, so a query states exactly the purpose its grant was approved for.
# One line of human text (hub.core.text.Line: no control or bidi characters), then normalised.
Purpose = Annotated[Line, Field(max_length=200), AfterValidator(_purpose)]


class SourceField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    type: FieldType = "string"
    label: Name = Field(max_length=100, description="中文名称")
    sensitivity: Sensitivity = "internal"


class ConnectorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["rest", "sql", "bulk"]
    config: dict[str, Any] = Field(default_factory=dict)


class SourceCreate(BaseModel):
    """A data source as a department registers it (POST /sources or schemas/sources/*.yaml)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SOURCE_ID, description="e.g. household.residents")
    name: Name = Field(max_length=200, description="资源名称")
    category: Name = Field(max_length=100, description="资源分类")
    description: Text = Field(default="", max_length=1000)
    subject_key: SubjectKey
    sharing_class: SharingClass
    update_frequency: Frequency = "realtime"
    fields: list[SourceField] = Field(min_length=1, max_length=200)
    connector: ConnectorSpec

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, fields: list[SourceField]) -> list[SourceField]:
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        return fields


class SourceDefinition(SourceCreate):
    """A source definition file: the same, plus the owning department's credit code."""

    owner: str = Field(min_length=18, max_length=18)

    @model_validator(mode="after")
    def _owner_code(self) -> SourceDefinition:
        if not is_valid_credit_code(self.owner):
            raise ValueError("owner must be a valid unified social credit code")
        return self


class Health(BaseModel):
    status: Literal["ok", "down", "unknown"]
    detail: str = ""
    checked_at: datetime | None = None


class EgressTarget(BaseModel):
    target: str = Field(description="scheme://host:port, with the database for PostgreSQL; sqlite:////file")
    approved: bool


class EgressOut(BaseModel):
    status: Literal["approved", "pending_review", "none"] = Field(
        description="pending_review: a target awaits the operator's egress rule and the source is not contacted; "
                    "none: a bulk source, with no target")
    targets: list[EgressTarget] = Field(description="the connector's targets: shown to the owner and the operator only")


class SourceOut(BaseModel):
    id: str
    name: str
    category: str
    description: str
    owner: Owner
    subject_key: SubjectKey
    sharing_class: SharingClass
    update_frequency: Frequency
    fields: list[SourceField]
    connector: ConnectorSpec | None = Field(
        None, description="how the hub reaches the source, shown only to the owning department and the operator "
                          "(secrets replaced by ***); null for other departments and citizens")
    health: Health
    egress: EgressOut
    created_at: datetime
    updated_at: datetime


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(pattern=SOURCE_ID)
    fields: list[str] = Field(min_length=1, max_length=200)
    purpose: Purpose = Field(description="用途: the purpose queries under this grant will state, exactly")
    legal_basis: Line = Field(max_length=500, description="依据")
    valid_days: int = Field(default=365, ge=1, le=1095, description="有效期（天）")


class GrantDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, min_length=1, max_length=500)


class GrantRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)


class GrantOut(BaseModel):
    id: str
    source: str
    source_name: str
    owner: Owner
    requester: Owner
    fields: list[str]
    purpose: str
    legal_basis: str
    status: Literal["pending", "approved", "rejected", "revoked", "expired"]
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    expires_at: datetime


class ImportRowError(BaseModel):
    line: int
    message: str


class ImportOut(BaseModel):
    source: str
    total: int
    imported: int
    failed: int
    errors: list[ImportRowError] = Field(description="the first 1,000 rejected rows with their line numbers")
