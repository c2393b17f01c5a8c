"""Settings from the environment (prefix HUB_); built by the caller, never at import time."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the hub reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str | None = None  # default: sqlite file in var_dir
    storage_url: str = "file://var/objects"
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    key_passphrase: SecretStr | None = None  # default: generated into var_dir for the demo
    public_url: str = ""  # default: http://127.0.0.1:{port}
    port: int = 8000
    demo_household_port: int = Field(default=8101, ge=1, le=65535)  # the demo 户籍 REST system beside the hub
    license_types_dir: Path = Path("schemas/license-types")
    sources_dir: Path = Path("schemas/sources")
    sqlite_sources_dir: Path | None = None  # the only directory SQLite sources may open; default var_dir/sqlite-sources
    access_token_ttl: int = Field(default=600, ge=60, le=3600)
    # An access token or client assertion whose iat lies further ahead than this is refused (seconds).
    token_clock_skew: int = Field(default=30, ge=0, le=300)
    token_max_lifetime: int = Field(default=3600, ge=60, le=86_400)  # exp − iat of an access token, at most
    client_assertion_max_lifetime: int = Field(default=300, ge=30, le=3600)  # exp − iat of a private_key_jwt
    # Failed client authentications at POST /oauth/token (limits notation, e.g. "10/minute"): per client id a
    # failure past the limit is answered 429; per address every request past it is, until the window passes.
    token_failure_limit_per_client: str = "10/minute"
    token_failure_limit_per_address: str = "30/minute"
    # Reverse proxies whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated (empty: none).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    verify_rate_limit: str = "600/minute"
    run_migrations: bool = True
    demo_identity: bool = False  # serve POST /demo/identity/token (citizen tokens without a real login)
    source_health_interval: float = Field(default=60.0, ge=1.0)  # seconds between health checks of all sources
    batch_worker: bool = True  # run a batch worker thread in this process (false: API only)
    audit_interval: float = Field(default=1.0, gt=0)  # seconds between audit log sequencer rounds

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        self.public_url = (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")
        return self

    @model_validator(mode="after")
    def _tokens_fit_their_maximum(self) -> Settings:
        if self.access_token_ttl > self.token_max_lifetime:
            raise ValueError("access_token_ttl must not exceed token_max_lifetime")
        return self

    @field_validator("verify_rate_limit", "token_failure_limit_per_client", "token_failure_limit_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError naming what it could not read
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list):
            return [ip_network(v, strict=False) if isinstance(v, str) else v for v in value]
        return value

    def resolved_database_url(self) -> str:
        """Return the configured database URL, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'hub.db').resolve()}"

    def resolved_sqlite_sources_dir(self) -> Path:
        """Return the directory SQLite data sources must live in (symlinks resolved)."""
        return (self.sqlite_sources_dir or self.var_dir / "sqlite-sources").resolve()

    def passphrase(self) -> bytes:
        """Return the key passphrase, generating one into var_dir on first use."""
        if self.key_passphrase is not None:
            return self.key_passphrase.get_secret_value().encode()
        path = self.var_dir / "keys" / "passphrase"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def write_secret_json(path: Path, content: dict) -> None:
    """Write credentials as JSON readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, ensure_ascii=False, indent=2)
