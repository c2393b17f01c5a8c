"""Test session: a fresh PostgreSQL database and a real SeaweedFS S3 server, both on loopback only.

Neither is ever skipped: when PostgreSQL cannot be reached or SeaweedFS cannot start, the run fails and says why.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub.bootstrap import initialise
from hub.core.clock import FixedClock
from hub.core.settings import Settings
from hub.main import create_app
from tests.support.seaweed import S3Server, start_seaweedfs, stop_seaweedfs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEMO_DEPARTMENTS = {
    "market": ("11990100MB0000019L", "示例市市场监督管理局"),
    "civil": ("11990100MB0000027F", "示例市民政局"),
    "land": ("11990100MB0000035A", "示例市自然资源局"),
    "police": ("11990100MB00000435", "示例市公安局"),
    "labour": ("11990100MB00000510", "示例市人力资源和社会保障局"),
}
BACKENDS = ["sqlite+files", "postgresql+s3"]


def _admin_url() -> str:
    url = os.environ.get("HUB_TEST_DATABASE_URL", DEFAULT_PG)
    host = urlsplit(url.replace("postgresql+psycopg", "postgresql")).hostname
    if host not in LOOPBACK:
        raise pytest.UsageError(f"HUB_TEST_DATABASE_URL must point at loopback, not {host!r}")
    return url


@pytest.fixture(scope="session")
def pg_admin() -> sa.Engine:
    """An AUTOCOMMIT engine on the test server, used to create one database per app."""
    url = _admin_url()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - turn any connection failure into a clear failure
        pytest.fail(f"PostgreSQL is not reachable at {url} ({exc.__class__.__name__}: {exc}). "
                    "Start it (see README) or set HUB_TEST_DATABASE_URL.", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """A real SeaweedFS S3 server for the whole session."""
    try:
        server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"SeaweedFS could not start: {exc}", pytrace=False)
    yield server
    stop_seaweedfs(server)


@dataclass
class Hub:
    """One running app over one backend pair, with its operator credentials and a controllable clock."""

    app: object
    client: TestClient
    settings: Settings
    clock: FixedClock
    operator: dict
    backend: str

    def token(self, client_id: str, client_secret: str, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        response = self.client.post("/oauth/token", data=form, auth=(client_id, client_secret))
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def operator_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token(self.operator['client_id'], self.operator['client_secret'])}"}


def make_settings(backend: str, tmp: Path, request) -> Settings:
    storage: dict = {"storage_url": f"file://{tmp / 'objects'}"}
    database_url = f"sqlite:///{tmp / 'hub.db'}"
    if backend == "postgresql+s3":
        s3 = request.getfixturevalue("s3_server")
        database_url = scratch_database(request, "hub_test")
        storage = {"storage_url": f"s3://hub-{secrets.token_hex(4)}", "s3_endpoint": s3.endpoint,
                   "s3_access_key": s3.access_key, "s3_secret_key": s3.secret_key}
    return Settings(var_dir=tmp / "var", database_url=database_url, key_passphrase="test-passphrase",
                    public_url="http://localhost", license_types_dir=ROOT / "schemas" / "license-types",
                    verify_rate_limit="100000/minute", token_failure_limit_per_client="100000/minute",
                    token_failure_limit_per_address="100000/minute", demo_identity=True, **storage)


def scratch_database(request, prefix: str) -> str:
    """A fresh PostgreSQL database on the test server, dropped when the requesting test or fixture ends."""
    admin = request.getfixturevalue("pg_admin")
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    request.addfinalizer(lambda: _drop_database(admin, name))
    return admin.url.set(database=name).render_as_string(hide_password=False)


def reader_url(request, database_url: str, tables: list[str], *, password: str | None = None) -> str:
    """The URL of a new login role that may only SELECT `tables` of the database: what a department gives the hub.

    Roles are cluster-wide: the name is unique and the role is dropped (its grants first) when the test ends.
    """
    admin = request.getfixturevalue("pg_admin")
    role = f"reader_{secrets.token_hex(6)}"
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN' + (f" PASSWORD '{password}'" if password else "")))
            for table in tables:
                conn.execute(sa.text(f'GRANT SELECT ON "{table}" TO "{role}"'))
    finally:
        engine.dispose()
    request.addfinalizer(lambda: _drop_role(admin, database_url, role))
    return sa.make_url(database_url).set(username=role, password=password).render_as_string(hide_password=False)


def _drop_role(admin: sa.Engine, database_url: str, role: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                     {"role": role})
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
    finally:
        engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_hub(backend: str, tmp: Path, request, *, now: datetime | None = None, batch_worker: bool = True) -> Hub:
    settings = make_settings(backend, tmp, request)
    settings.batch_worker = batch_worker
    clock = FixedClock(now or datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc))
    operator = initialise(settings, now=clock())
    app = create_app(settings, clock=clock)
    client = TestClient(app, base_url="http://localhost", raise_server_exceptions=False)
    client.__enter__()
    request.addfinalizer(lambda: client.__exit__(None, None, None))
    return Hub(app=app, client=client, settings=settings, clock=clock, operator=operator, backend=backend)


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request, tmp_path_factory) -> Hub:
    """A hub per test module and backend pair (SQLite + files, PostgreSQL + S3)."""
    return start_hub(request.param, tmp_path_factory.mktemp(request.param.replace("+", "_")), request)


@pytest.fixture(scope="module")
def departments(hub: Hub) -> dict[str, dict]:
    """The five demo departments, registered through the API; each with its one-time client secret."""
    created = {}
    for key, (code, name) in DEMO_DEPARTMENTS.items():
        response = hub.client.post("/departments", json={"code": code, "name": name, "region": "示例市"},
                                   headers=hub.operator_headers())
        assert response.status_code == 201, response.text
        created[key] = response.json()
    return created


def bearer(hub: Hub, department: dict, scope: str | None = None) -> dict:
    client = department["client"]
    return {"Authorization": f"Bearer {hub.token(client['client_id'], client['client_secret'], scope)}"}


def citizen_headers(hub: Hub, resident_id: str) -> dict:
    """A citizen's bearer header, from the demo identity."""
    response = hub.client.post("/demo/identity/token", json={"resident_id": resident_id})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def root_der(hub: Hub) -> bytes:
    """The hub root certificate (DER), as a relying party pins it."""
    from hub.trust.tables import HubKey

    with hub.app.state.services.session_factory() as session:
        return session.scalar(sa.select(HubKey.certificate_der).where(HubKey.purpose == "root"))
