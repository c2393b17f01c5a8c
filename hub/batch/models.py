"""Response bodies for batch jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class RowError(BaseModel):
    line: int = Field(description="line of the file where the row starts (the CSV header is line 1)")
    key: str | None
    code: str = Field(description="snake_case reason, e.g. invalid_license_data, duplicate_key")
    detail: str
    errors: list[dict] = Field(default_factory=list, description="field-level problems: {field, code, message}")


class JobLinks(BaseModel):
    self: str


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "completed", "failed"]
    format: Literal["csv", "jsonl"]
    total: int = Field(description="data rows in the file")
    done: int = Field(description="rows whose license exists: newly issued or issued earlier under the same key")
    issued: int = Field(description="of done, the licenses this job newly issued")
    failed: int
    error: str | None = Field(default=None, description="why the whole job failed, when status is failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    errors: list[RowError] = Field(description="failed rows by line; a page of them, see errors_total")
    errors_total: int
    errors_offset: int
    links: JobLinks
