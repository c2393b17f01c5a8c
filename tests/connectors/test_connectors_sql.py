"""The SQL connector on a real SQLite file and a real PostgreSQL database: reads, refusals, read-only, failures."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from connectors import (
    AccountRefused,
    ConnectorConfigError,
    SourceRefused,
    SourceTimeout,
    SourceUnavailable,
    build,
    redact,
)
from connectors.config import SqlConfig
from connectors.sql import SqlConnector
from tests.conftest import reader_url, scratch_database
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio
RESIDENT = "110105199001010010"
OTHER = "110105199001010037"
QUERY = "SELECT name, months_paid, balance, enrolled FROM insured WHERE resident_id = :subject"
ROWS = [
    {"resident_id": RESIDENT, "name": "张三", "months_paid": 120, "balance": "1234.50", "enrolled": "2015-03-01"},
    {"resident_id": "11010519900101007X", "name": "李四", "months_paid": 7, "balance": "0", "enrolled": "2024-01-15"},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fill(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE insured (resident_id varchar(18) PRIMARY KEY, name text NOT NULL, "
                             "months_paid integer NOT NULL, balance numeric(12, 2) NOT NULL, enrolled date NOT NULL)"))
        conn.execute(sa.text("INSERT INTO insured VALUES (:resident_id, :name, :months_paid, :balance, :enrolled)"),
                     ROWS)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """The URL of a department database holding the `insured` table, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'labour.db'}"
        engine = sa.create_engine(url)
        _fill(engine)
        engine.dispose()
        return url
    return request.getfixturevalue("pg_database")


@pytest.fixture
def pg_admin_database(request) -> str:
    """A scratch PostgreSQL database holding the `insured` table, as its (superuser) owner sees it."""
    url = scratch_database(request, "dept")
    engine = sa.create_engine(url)
    _fill(engine)
    engine.dispose()
    return url


@pytest.fixture
def pg_database(request, pg_admin_database) -> str:
    """The same database through a role that may only SELECT `insured`: what a department gives the hub."""
    return reader_url(request, pg_admin_database, ["insured"])



def _count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM insured")).scalar_one()
    finally:
        engine.dispose()


async def test_fetch_returns_the_requested_columns_as_json_types(database):
    connector = build("sql", {"url": database, "query": QUERY})
    try:
        assert await connector.fetch(RESIDENT, ["name", "balance", "enrolled", "not_a_column"]) == {
            "name": "张三", "balance": 1234.5, "enrolled": "2015-03-01"}
        assert await connector.fetch("11010519900101007X", ["months_paid", "balance"]) == {
            "months_paid": 7, "balance": 0}
    finally:
        await connector.aclose()


async def test_no_row_is_none(database):
    connector = build("sql", {"url": database, "query": QUERY, "pool_size": 2})
    assert await connector.fetch(OTHER, ["name"]) is None
    assert (await connector.health()).ok
    await connector.aclose()


async def test_connections_are_read_only_even_past_the_template_check(database):
    # A write that got past the parser still fails: SQLite is opened mode=ro, PostgreSQL begins READ ONLY.
    connector = build("sql", {"url": database, "query": QUERY})
    with connector.engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-?only"):
        conn.execute(sa.text("DELETE FROM insured"))
    await connector.aclose()
    assert _count(database) == 2


async def test_a_session_switched_to_read_write_still_begins_read_only(pg_database):
    connector = build("sql", {"url": pg_database, "query": QUERY, "pool_size": 1})
    with connector.engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('default_transaction_read_only', 'off', false)"))
    # The same pooled connection still begins every transaction READ ONLY.
    with connector.engine.connect() as conn, pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        conn.execute(sa.text("DELETE FROM insured"))
    await connector.aclose()
    assert _count(pg_database) == 2


async def test_sqlite_denies_attach_at_run_time_whatever_the_parser_saw(tmp_path):
    path = tmp_path / "labour.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    _fill(engine)
    engine.dispose()
    unchecked = SqlConfig.model_construct(url=f"sqlite:///{path}", query=f"ATTACH DATABASE '{path}' AS other",
                                          pool_size=1, timeout=3.0)
    connector = SqlConnector(unchecked)
    with pytest.raises(SourceRefused, match="not authorised"):
        await connector.fetch(RESIDENT, ["name"])
    assert await build("sql", {"url": f"sqlite:///{path}", "query": QUERY}).fetch(RESIDENT, ["name"]) == {
        "name": "张三"}
    await connector.aclose()


async def test_sql_failure_is_unavailable_without_leaking_sql(database):
    query = "SELECT secret_column FROM insured WHERE resident_id = :subject"
    connector = build("sql", {"url": database, "query": query})
    with pytest.raises(SourceUnavailable) as raised:
        await connector.fetch(RESIDENT, ["secret_column"])
    assert "secret_column" not in str(raised.value) and "insured" not in str(raised.value)
    await connector.aclose()


async def test_slow_query_is_a_timeout(database):
    # No sleep function is allowed: count to a billion.
    template = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
                "SELECT max(i) AS name FROM n WHERE CAST(:subject AS text) IS NOT NULL")
    connector = build("sql", {"url": database, "query": template, "timeout": 0.5})
    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        await connector.fetch(RESIDENT, ["name"])
    assert time.monotonic() - started < 1.5
    assert await build("sql", {"url": database, "query": QUERY}).fetch(RESIDENT, ["name"]) == {"name": "张三"}
    await connector.aclose()


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/missing/nothing.db", "postgresql+psycopg://postgres@127.0.0.1:{port}/x",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here"])
async def test_broken_url_is_unavailable_and_unhealthy(url, tmp_path):
    connector = build("sql", {"url": url.format(tmp=tmp_path, port=free_port()), "query": QUERY, "timeout": 2})
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        await connector.fetch(RESIDENT, ["name"])
    health = await connector.health()
    assert not health.ok and "cannot connect" in health.detail
    await connector.aclose()


@pytest.mark.parametrize(("query", "why"), [
    ("DELETE FROM insured WHERE resident_id = :subject", "must be a SELECT, not DELETE"),
    ("UPDATE insured SET name = 'x' WHERE resident_id = :subject", "must be a SELECT, not UPDATE"),
    ("SELECT name FROM insured WHERE resident_id = :subject; DROP TABLE insured", "exactly one statement"),
    ("WITH a AS (SELECT 1) DELETE FROM insured WHERE resident_id = :subject", "must be a SELECT, not DELETE"),
    ("SELECT name FROM insured", "must bind the subject as :subject"),
    ("SELECT name FROM insured WHERE resident_id = :subject AND region = :region", "the bind :region"),
    ("SELECT name FROM insured WHERE resident_id = '110105199001010010'", "looks like a subject"),
    ("SELECT * FROM insured WHERE resident_id = :subject", r"\* is not allowed"),
    ("SELECT upper(name) FROM insured WHERE resident_id = :subject", "has no name"),
    ("SELECT name FROM insured WHERE resident_id = :subject FOR UPDATE", "locking clauses"),
    ("SELECT name FROM insured WHERE resident_id = :subject -- :other", "comments"),
    ("SELECT name FROM insured WHERE", "not valid SQL"),
])
def test_template_that_is_not_one_select_is_rejected_at_build(query, why, tmp_path):
    with pytest.raises(ConnectorConfigError, match=why) as raised:
        build("sql", {"url": f"sqlite:///{tmp_path / 'x.db'}", "query": query})
    assert "query:" in str(raised.value)


POSTGRES_ATTACKS = [
    ("SELECT pg_read_file('/etc/hostname') AS name FROM insured WHERE resident_id = :subject", "pg_read_file"),
    ("SELECT pg_terminate_backend(pid) AS name FROM pg_stat_activity WHERE usename = :subject",
     "pg_terminate_backend"),
    ("SELECT name FROM insured, dblink('dbname=test', 'SELECT 1') AS t(x int) WHERE resident_id = :subject",
     "dblink"),
    ("SELECT set_config('default_transaction_read_only', 'off', false) AS name FROM insured "
     "WHERE resident_id = :subject", "set_config"),
    ("SELECT current_setting('data_directory') AS name FROM insured WHERE resident_id = :subject", "current_setting"),
    ("SELECT lo_import('/etc/passwd') AS name FROM insured WHERE resident_id = :subject", "lo_import"),
    ("WITH gone AS (DELETE FROM insured WHERE resident_id = :subject RETURNING name) SELECT name FROM gone",
     "WITH gone: DELETE"),
    ("SELECT name INTO stolen FROM insured WHERE resident_id = :subject", "SELECT ... INTO"),
    ("SELECT usename AS name FROM pg_catalog.pg_user WHERE usename = :subject", "pg_catalog.pg_user"),
    ("SELECT name FROM insured WHERE resident_id = :subject UNION SELECT rolname FROM pg_authid", "pg_authid"),
    ("SELECT table_name AS name FROM information_schema.tables WHERE table_name = :subject",
     "information_schema.tables"),
    ("COPY insured TO '/tmp/insured.csv'", "COPY"),
    ("SELECT pg_catalog.upper(name) AS name FROM insured WHERE resident_id = :subject", "schema-qualified"),
]
SQLITE_ATTACKS = [
    ("ATTACH DATABASE '/var/hub.db' AS hub", "ATTACH"),
    ("SELECT load_extension('/tmp/evil.so') AS name FROM insured WHERE resident_id = :subject", "load_extension"),
    ("SELECT readfile('/etc/passwd') AS name FROM insured WHERE resident_id = :subject", "readfile"),
    ("PRAGMA table_info(insured)", "PRAGMA"),
    ("SELECT name FROM sqlite_master WHERE name = :subject", "sqlite_master"),
    ("SELECT name FROM sqlite_schema WHERE name = :subject", "sqlite_schema"),
    ("SELECT name FROM pragma_table_info('insured') WHERE name = :subject", "pragma_table_info"),
]


@pytest.mark.parametrize(("query", "named"), POSTGRES_ATTACKS)
def test_crafted_postgresql_templates_are_refused_by_name(query, named):
    with pytest.raises(ConnectorConfigError, match=named):
        build("sql", {"url": "postgresql+psycopg://reader@127.0.0.1:5432/test", "query": query})


@pytest.mark.parametrize(("query", "named"), SQLITE_ATTACKS)
def test_crafted_sqlite_templates_are_refused_by_name(query, named, tmp_path):
    with pytest.raises(ConnectorConfigError, match=named):
        build("sql", {"url": f"sqlite:///{tmp_path / 'x.db'}", "query": query})


def test_only_declared_fields_may_be_returned(tmp_path):
    config = {"url": f"sqlite:///{tmp_path / 'x.db'}", "query": QUERY}
    with pytest.raises(ConnectorConfigError, match="output column balance is not a declared field"):
        build("sql", config, fields=["name", "months_paid", "enrolled"])
    build("sql", config, fields=["name", "months_paid", "balance", "enrolled", "other"])


async def test_a_superuser_account_is_refused_and_never_queried(pg_admin_database):
    connector = build("sql", {"url": pg_admin_database, "query": QUERY})
    with pytest.raises(AccountRefused, match="is a superuser"):
        await connector.fetch(RESIDENT, ["name"])
    health = await connector.health()
    assert not health.ok and isinstance(health.error, AccountRefused) and health.error.outcome == "refused"
    await connector.aclose()


async def test_an_account_holding_a_server_file_role_is_refused(request, pg_admin_database, pg_admin):
    url = reader_url(request, pg_admin_database, ["insured"])
    role = sa.make_url(url).username
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'GRANT pg_read_server_files TO "{role}"'))
    connector = build("sql", {"url": url, "query": QUERY})
    with pytest.raises(AccountRefused, match="member of pg_read_server_files"):
        await connector.fetch(RESIDENT, ["name"])
    await connector.aclose()


async def test_a_least_privilege_account_reads_only_its_table(pg_admin_database, pg_database):
    engine = sa.create_engine(pg_admin_database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE payroll (resident_id text, name text)"))
        conn.execute(sa.text("INSERT INTO payroll VALUES (:subject, '王五')"), {"subject": RESIDENT})
    engine.dispose()
    connector = build("sql", {"url": pg_database, "query": "SELECT name FROM payroll WHERE resident_id = :subject"})
    with pytest.raises(SourceRefused) as raised:
        await connector.fetch(RESIDENT, ["name"])
    assert raised.value.outcome == "refused" and "payroll" not in str(raised.value)
    await connector.aclose()


@pytest.mark.parametrize(("url", "why"), [("mysql://u@h/db", "not supported"), ("sqlite://", "database file"),
                                          ("not a url", "not a SQLAlchemy")])
def test_unsupported_url_is_rejected_at_build(url, why):
    with pytest.raises(ConnectorConfigError, match=why):
        build("sql", {"url": url, "query": QUERY})


def test_redact_hides_the_database_password():
    config = {"url": "postgresql+psycopg://labour:s3cr3t-pw@db.example:5432/insurance", "query": QUERY}
    shown = redact("sql", config)
    assert "s3cr3t-pw" not in repr(shown) and shown["url"] == "postgresql+psycopg://labour:***@db.example:5432/insurance"
    assert shown["query"] == QUERY and "s3cr3t-pw" in config["url"]
