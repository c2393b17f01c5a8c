"""Client credentials as handed out once."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClientCredentials(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; the hub keeps only a hash")
    scopes: list[str]
