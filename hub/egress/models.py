"""Request and response bodies for egress rules (the operator's approved connector targets)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.departments.models import Owner

CREDIT_CODE = r"^[0-9A-Z]{18}$"
RULE_ID = r"^[0-9a-f]{32}$"


class EgressRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(pattern=CREDIT_CODE, description="the department's unified social credit code")
    target: str = Field(min_length=1, max_length=1000, examples=[
        "http://127.0.0.1:8101", "https://api.example.gov.cn", "postgresql://db.example:5432/labour",
        "sqlite:////srv/hub/var/sqlite-sources/social_security.db"],
        description="http(s)://HOST[:PORT], postgresql://HOST[:PORT]/DATABASE or sqlite:////ABSOLUTE/PATH")


class EgressRuleOut(BaseModel):
    id: str
    department: Owner
    target: str = Field(description="canonical: explicit port, lower-case host, SQLite path with symlinks resolved")
    created_at: datetime
    created_by: str
