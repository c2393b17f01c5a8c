"""Request and response bodies for departments, and a department named where it owns something."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.auth.models import ClientCredentials
from hub.core.text import Name
from license_verifier.identifiers import is_valid_credit_code


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=18, max_length=18, description="统一社会信用代码 (GB 32100)")
    name: Name = Field(max_length=200)
    region: Name = Field(max_length=100)
    alg: Literal["ES256", "EdDSA", "SM2"] = "ES256"
    jwks: dict[str, Any] | None = Field(
        default=None, description="Public JWK set of the department's client, to authenticate with private_key_jwt")

    @field_validator("jwks")
    @classmethod
    def _public_jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        keys = value.get("keys")
        if not isinstance(keys, list) or not 1 <= len(keys) <= 5 or set(value) != {"keys"}:
            raise ValueError("must be a JWK set: {\"keys\": [1 to 5 public keys]}")
        try:
            KeySet.import_key_set(value)
        except Exception as exc:  # noqa: BLE001 - joserfc raises several types for a bad key
            raise ValueError(f"not a usable JWK set ({exc.__class__.__name__})") from None
        if any(not isinstance(k, dict) or "d" in k or k.get("kty") == "oct" for k in keys):
            raise ValueError("only public asymmetric keys may be registered")
        return value

    @field_validator("code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        if not is_valid_credit_code(value):
            raise ValueError("not a valid unified social credit code (GB 32100 check character)")
        return value


class DepartmentOut(BaseModel):
    id: str
    code: str
    name: str
    region: str
    created_at: datetime
    issuer_kid: str | None = None


class DepartmentCreated(DepartmentOut):
    client: ClientCredentials


class Owner(BaseModel):  # a department as it appears on what it owns (no docstring: it would enter the OpenAPI)
    code: str
    name: str
