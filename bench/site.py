"""A throw-away hub installation: temp var dir, database, file storage, demo data and credentials."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from rich.console import Console

from hub.core.settings import Settings
from hub.demo.data import load_demo
from hub.main import create_app
from license_verifier.trustlist import TrustList

REPO_ROOT = Path(__file__).resolve().parent.parent
LICENSE_TYPES_DIR = REPO_ROOT / "schemas" / "license-types"
DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
UNTHROTTLED = "10000000/minute"


@dataclass(frozen=True)
class HubSite:
    """Where one benchmarked hub keeps its state and which port it serves on."""

    root: Path
    port: int
    database_url: str | None = None  # None: SQLite in root
    passphrase: str = "bench-passphrase-not-secret"
    s3: tuple[str, str, str] | None = None  # (endpoint, access key, secret key): S3 storage; None: files

    @property
    def base_url(self) -> str:
        """Return the URL the hub is served at."""
        return f"http://127.0.0.1:{self.port}"

    def hub_env(self) -> dict[str, str]:
        """Return the HUB_* variables that configure this site."""
        env = {
            "HUB_VAR_DIR": str(self.root), "HUB_STORAGE_URL": (self.root / "objects").as_uri(),
            "HUB_KEY_PASSPHRASE": self.passphrase, "HUB_PUBLIC_URL": self.base_url,
            "HUB_PORT": str(self.port), "HUB_LICENSE_TYPES_DIR": str(LICENSE_TYPES_DIR),
            "HUB_VERIFY_RATE_LIMIT": UNTHROTTLED,
        }
        if self.database_url:
            env["HUB_DATABASE_URL"] = self.database_url
        if self.s3:
            env.update({"HUB_STORAGE_URL": f"s3://bench-{self.port}", "HUB_S3_ENDPOINT": self.s3[0],
                        "HUB_S3_ACCESS_KEY": self.s3[1], "HUB_S3_SECRET_KEY": self.s3[2]})
        return env

    def process_env(self) -> dict[str, str]:
        """Return this process's environment with its HUB_* variables replaced by the site's."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        return {**inherited, **self.hub_env(), "HUB_RUN_MIGRATIONS": "false"}

    def settings(self) -> Settings:
        """Return hub Settings built from exactly the site's HUB_* variables."""
        return Settings(**{key.removeprefix("HUB_").lower(): value for key, value in self.hub_env().items()})


@dataclass(frozen=True)
class Prepared:
    """A site loaded with the demo: the sample QR and the demo departments' client credentials."""

    site: HubSite
    sample_qr: str
    market_client: tuple[str, str]
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)  # every demo department's by key; "operator"


def load_site(site: HubSite) -> Prepared:
    """Migrate the site's database and load the demo into it, silencing the demo's printing."""
    site.root.mkdir(parents=True, exist_ok=True)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        summary = load_demo(site.settings(), console=Console(file=quiet))
    credentials = json.loads(summary.credentials_path.read_text())
    clients = {key: (d["client_id"], d["client_secret"]) for key, d in credentials["departments"].items()}
    clients["operator"] = (credentials["operator"]["client_id"], credentials["operator"]["client_secret"])
    return Prepared(site, summary.sample_qr, clients["market"], clients)


def trust_list(site: HubSite) -> TrustList:
    """Return the verifier trust list the hub would serve for this site."""
    app = create_app(site.settings())
    try:
        return app.state.services.trust.trust()
    finally:
        app.state.services.engine.dispose()


def postgres_admin_url() -> str:
    """Return the admin URL of the local PostgreSQL server; refuse anything but loopback."""
    url = os.environ.get("HUB_BENCH_DATABASE_URL") or os.environ.get("HUB_TEST_DATABASE_URL") or DEFAULT_PG_ADMIN
    host = urlsplit(url.replace("postgresql+psycopg", "postgresql")).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the benchmark database must be on loopback, not {host!r}")
    return url


def _with_database(url: str, name: str) -> str:
    """Return url pointing at database name."""
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, and always drop it afterwards."""
    name = f"hub_bench_{secrets.token_hex(6)}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield _with_database(admin_url, name)
        finally:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
