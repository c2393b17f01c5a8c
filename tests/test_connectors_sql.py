"""The SQL connector on a real SQLite file and a real PostgreSQL database: reads, refusals, read-only, failures."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from connectors import ConnectorConfigError, SourceTimeout, SourceUnavailable, build, redact
from tests.conftest import scratch_database
from tests.servers import free_port

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
def pg_database(request) -> str:
    """A scratch PostgreSQL database holding the `insured` table, dropped afterwards."""
    url = scratch_database(request, "dept")
    engine = sa.create_engine(url)
    _fill(engine)
    engine.dispose()
    return url



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


async def test_write_through_a_crafted_template_fails_read_only(database):
    # Both pass the SELECT/WITH check; only the read-only session stops them.
    templates = ["WITH a AS (SELECT 1) DELETE FROM insured WHERE resident_id = :subject"]
    if database.startswith("postgresql"):
        templates.append("WITH gone AS (DELETE FROM insured WHERE resident_id = :subject RETURNING name) "
                         "SELECT name FROM gone")
    for template in templates:
        connector = build("sql", {"url": database, "query": template})
        with pytest.raises(SourceUnavailable, match="read-only"):
            await connector.fetch(RESIDENT, ["name"])
        await connector.aclose()
    assert _count(database) == 2


async def test_a_template_cannot_switch_the_postgresql_session_to_read_write(pg_database):
    database = pg_database
    template = ("SELECT set_config('default_transaction_read_only', 'off', false) AS flag, name "
                "FROM insured WHERE resident_id = :subject")
    connector = build("sql", {"url": database, "query": template, "pool_size": 1})
    assert await connector.fetch(RESIDENT, ["flag"]) == {"flag": "off"}
    # The same pooled connection still begins every transaction READ ONLY.
    with connector.engine.connect() as conn, pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        conn.execute(sa.text("DELETE FROM insured"))
    await connector.aclose()
    assert _count(database) == 2


async def test_sql_failure_is_unavailable_without_leaking_sql(database):
    query = "SELECT secret_column FROM insured WHERE resident_id = :subject"
    connector = build("sql", {"url": database, "query": query})
    with pytest.raises(SourceUnavailable) as raised:
        await connector.fetch(RESIDENT, ["secret_column"])
    assert "secret_column" not in str(raised.value) and "insured" not in str(raised.value)
    await connector.aclose()


async def test_slow_query_is_a_timeout(database):
    if database.startswith("postgresql"):
        template = "SELECT name, pg_sleep(5) AS slept FROM insured WHERE resident_id = :subject"
    else:  # SQLite has no sleep: count to a billion
        template = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
                    "SELECT max(i) AS name FROM n WHERE :subject IS NOT NULL")
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
    ("DELETE FROM insured WHERE resident_id = :subject", "single SELECT or WITH"),
    ("UPDATE insured SET name = 'x' WHERE resident_id = :subject", "single SELECT or WITH"),
    ("SELECT name FROM insured WHERE resident_id = :subject; DROP TABLE insured", "single statement"),
    ("SELECT name FROM insured", ":subject"),
    ("SELECT name FROM insured WHERE resident_id = :subject AND region = :region", ":subject"),
])
def test_template_that_is_not_one_select_is_rejected_at_build(query, why, tmp_path):
    with pytest.raises(ConnectorConfigError, match=why) as raised:
        build("sql", {"url": f"sqlite:///{tmp_path / 'x.db'}", "query": query})
    assert "query:" in str(raised.value)


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
