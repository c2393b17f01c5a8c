"""Configuration models, one per connector type; unknown keys are rejected."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from connectors.base import ConnectorConfigError
from connectors.sqlcheck import check_template

FIELD_TYPES = ("string", "integer", "number", "date", "boolean")
_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # RFC 9110 §5.6.2: a header field name
_SQL_DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql+psycopg",
                "postgresql+psycopg": "postgresql+psycopg"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthHeader(_Strict):
    name: str = Field(pattern=_TOKEN, max_length=100)
    value: str = Field(min_length=1, max_length=4096, pattern=r"^[^\r\n]*$")


class BreakerConfig(_Strict):
    failures: int = Field(5, ge=1, le=1000)
    reset_seconds: float = Field(30.0, gt=0, le=3600)


class RestConfig(_Strict):
    url: str = Field(max_length=2048)
    method: Literal["GET", "POST"] = "GET"
    timeout: float = Field(3.0, gt=0, le=30)
    retries: int = Field(2, ge=0, le=5)
    auth_header: AuthHeader | None = None
    fields_param: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-\[\]]+$", max_length=100)
    record_path: str | None = Field(None, pattern=r"^[^.]+(\.[^.]+)*$", max_length=200)
    health_url: str | None = Field(None, max_length=2048)
    breaker: BreakerConfig = BreakerConfig()
    max_connections: int = Field(32, ge=1, le=500)  # in flight at once; more wait, within the timeout

    @field_validator("url")
    @classmethod
    def _absolute(cls, url: str) -> str:
        _http_url(url.replace("{subject}", "x"))
        return url

    @model_validator(mode="after")
    def _get_names_subject(self) -> RestConfig:
        # A POST carries the subject in its body; a GET can only carry it in the URL.
        if self.method == "GET" and "{subject}" not in self.url:
            raise PydanticCustomError("url_subject", "url: must contain the placeholder {subject} for GET")
        return self

    @field_validator("health_url")
    @classmethod
    def _is_http(cls, url: str | None) -> str | None:
        if url is not None:
            _http_url(url)
        return url

    def origin_health_url(self) -> str:
        """Return the health URL: the configured one, else the URL's origin + /health."""
        if self.health_url:
            return self.health_url
        parts = urlsplit(self.url.replace("{subject}", "x"))
        return f"{parts.scheme}://{parts.netloc}/health"


class SqlConfig(_Strict):
    url: str = Field(max_length=2048)
    query: str = Field(max_length=20_000)
    pool_size: int = Field(5, ge=1, le=50)
    timeout: float = Field(3.0, gt=0, le=30)

    @field_validator("url")
    @classmethod
    def _supported_url(cls, url: str) -> str:
        parsed = parse_sql_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
            raise ValueError("a SQLite source needs a database file, not an in-memory database")
        return url

    @field_validator("query")
    @classmethod
    def _single_select(cls, query: str, info: ValidationInfo) -> str:
        url = info.data.get("url")
        if url is not None:  # a bad URL is reported on its own; the template is parsed in the URL's dialect
            fields = (info.context or {}).get("fields")
            check_template(query, dialect=parse_sql_url(url).get_backend_name(), fields=fields)
        return query


class FieldModel(_Strict):
    name: str = Field(min_length=1, max_length=100)
    type: Literal["string", "integer", "number", "date", "boolean"] = "string"


class BulkConfig(_Strict):
    """Optional import settings kept with a bulk source: file format, subject column, typed fields."""

    format: Literal["csv", "jsonl", "xlsx"] = "csv"
    subject_field: str = Field("subject", min_length=1, max_length=100)
    fields: list[FieldModel] = []


MODELS: dict[str, type[_Strict]] = {"rest": RestConfig, "sql": SqlConfig, "bulk": BulkConfig}


def _http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")


def parse_sql_url(url: str) -> URL:
    """Parse a SQLAlchemy URL of a supported backend (SQLite, PostgreSQL through psycopg)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ValueError("is not a SQLAlchemy database URL") from exc
    driver = _SQL_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"backend {parsed.drivername!r} is not supported; use sqlite or postgresql+psycopg")
    return parsed.set(drivername=driver)


def validate(type_: str, config: object, *, fields: Collection[str] | None = None) -> _Strict:
    """Return the typed config, or raise ConnectorConfigError naming each bad key.

    `fields` are the source's declared field names: a SQL template may return only those.
    """
    model = MODELS.get(type_)
    if model is None:
        raise ConnectorConfigError(f"unknown connector type {type_!r}; expected one of {', '.join(MODELS)}")
    if not isinstance(config, dict):
        raise ConnectorConfigError("config must be a JSON object")
    try:
        return model.model_validate(config, context={"fields": None if fields is None else tuple(fields)})
    except ValidationError as exc:
        raise ConnectorConfigError("; ".join(_describe(error) for error in exc.errors())) from None


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if not key:  # a whole-model check already names its key
        return error["msg"]
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required"
    return f"{key}: {error['msg'].removeprefix('Value error, ')}"
