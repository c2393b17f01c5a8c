"""Connectors through the hub: templates refused by name, powerful accounts refused, secrets sealed at rest,
connectors shown to their owner only, and failures that say one word to departments (the detail to the log)."""

from __future__ import annotations

import logging
import secrets
import socket
import threading

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hub.core.sealed import Sealer, SealError
from hub.main import create_app
from hub.catalogue.tables import Source
from tests.conftest import bearer, reader_url, scratch_database
from tests.support.exchange_helpers import HOUSEHOLD_KEY, citizens, household_source, register, start_household
from tests.support.servers import ServerThread, free_port

PURPOSE = "核验参保信息"
TOKEN = "tok-" + secrets.token_hex(8)
PASSWORD = "pw-" + secrets.token_hex(8)
INSURED_FIELDS = [{"name": n, "type": t, "label": n, "sensitivity": "personal"}
                  for n, t in (("name", "string"), ("months_paid", "integer"))]
QUERY = "SELECT name, months_paid FROM insured WHERE resident_id = :subject"
UNREACHABLE = "无法连接 unreachable"


@pytest.fixture(scope="module")
def person():
    return citizens(1)[0]


@pytest.fixture(scope="module")
def labour_db(request, person) -> dict:
    """A department's PostgreSQL database: its owner's (superuser) URL and a SELECT-only account with a password."""
    admin_url = scratch_database(request, "labour")
    engine = sa.create_engine(admin_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE insured (resident_id text PRIMARY KEY, name text, months_paid int)"))
        conn.execute(sa.text("INSERT INTO insured VALUES (:id, :name, 96)"), {"id": person.resident_id,
                                                                              "name": person.name})
    engine.dispose()
    return {"admin": admin_url, "reader": reader_url(request, admin_url, ["insured"], password=PASSWORD)}


def _sql_source(source_id: str, url: str, query: str = QUERY, fields=INSURED_FIELDS) -> dict:
    return {"id": source_id, "name": "参保人员信息", "category": "社保信息", "subject_key": "resident_id",
            "sharing_class": "conditional", "fields": fields,
            "connector": {"type": "sql", "config": {"url": url, "query": query, "timeout": 2}}}


def _query(hub, department, source_id: str, subject: str, fields: list[str]):
    return hub.client.post(f"/exchange/{source_id}/query", json={"subject": subject, "fields": fields,
                                                                "purpose": PURPOSE}, headers=bearer(hub, department))


def _raw_configs(hub, *source_ids: str) -> str:
    """The sources' connector configs as the database holds them."""
    with hub.app.state.services.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.cast(Source.__table__.c.connector_config, sa.Text))
                            .where(Source.__table__.c.id.in_(source_ids))).scalars().all()
    assert len(rows) == len(source_ids)
    return "\n".join(rows)


@pytest.fixture(scope="module")
def sealed_sources(hub, departments, labour_db, request) -> dict:
    """A SQL source whose URL holds a password and a REST source with an API key header and a token parameter."""
    labour = bearer(hub, departments["labour"])
    sql = register(hub, departments["labour"], _sql_source("labour.insured", labour_db["reader"]))
    assert sql.status_code == 201, sql.text
    rest = household_source(start_household(request), source_id="household.sealed")
    rest["connector"]["config"]["url"] += f"?token={TOKEN}"
    response = register(hub, departments["police"], rest)
    assert response.status_code == 201, response.text
    return {"sql": "labour.insured", "rest": "household.sealed"}


def test_stored_connector_configs_hold_no_secret_and_queries_still_work(hub, departments, sealed_sources, person):
    raw = _raw_configs(hub, *sealed_sources.values())
    assert PASSWORD not in raw and HOUSEHOLD_KEY not in raw and TOKEN not in raw
    assert raw.count('"$sealed": "v1.') + raw.count('"$sealed":"v1.') == 2
    answer = _query(hub, departments["labour"], sealed_sources["sql"], person.resident_id, ["name", "months_paid"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["record"] == {"name": person.name, "months_paid": 96}
    answer = _query(hub, departments["police"], sealed_sources["rest"], person.resident_id, ["name"])
    assert answer.status_code == 200 and answer.json()["record"] == {"name": person.name}


def test_the_owner_and_the_operator_see_the_connector_redacted_others_not_at_all(hub, departments, sealed_sources):
    for viewer in (bearer(hub, departments["labour"]), hub.operator_headers()):
        shown = hub.client.get("/sources/labour.insured", headers=viewer)
        assert shown.json()["connector"]["config"]["url"].count(":***@") == 1 and PASSWORD not in shown.text
        assert "$sealed" not in shown.text
    other = hub.client.get("/sources/labour.insured", headers=bearer(hub, departments["civil"]))
    assert other.status_code == 200 and other.json()["connector"] is None


def test_plain_secrets_stored_earlier_are_sealed_at_start_up_once(hub, departments, sealed_sources, person):
    table = Source.__table__
    plain = household_source("http://127.0.0.1:1", source_id="x")["connector"]["config"]
    with hub.app.state.services.engine.begin() as conn:  # a row as an earlier version of the hub stored it
        url = conn.execute(sa.select(table.c.connector_config).where(table.c.id == "household.sealed")).scalar()["url"]
        plain["url"] = url.replace("***", TOKEN)
        conn.execute(sa.update(table).where(table.c.id == "household.sealed").values(connector_config=plain))
    assert HOUSEHOLD_KEY in _raw_configs(hub, "household.sealed")
    create_app(hub.settings, clock=hub.clock).state.services.engine.dispose()
    sealed = _raw_configs(hub, "household.sealed")
    assert HOUSEHOLD_KEY not in sealed and TOKEN not in sealed and "$sealed" in sealed
    create_app(hub.settings, clock=hub.clock).state.services.engine.dispose()
    assert _raw_configs(hub, "household.sealed") == sealed  # the second start found nothing to seal
    answer = _query(hub, departments["police"], "household.sealed", person.resident_id, ["name"])
    assert answer.status_code == 200 and answer.json()["record"] == {"name": person.name}


def test_a_damaged_envelope_makes_queries_refused_not_a_server_error(hub, departments, labour_db, person, caplog):
    labour = departments["labour"]
    registered = register(hub, labour, _sql_source("labour.damaged", labour_db["reader"]))
    assert registered.status_code == 201, registered.text
    table = Source.__table__
    with hub.app.state.services.engine.begin() as conn:  # before any query: nothing of it is cached yet
        stored = conn.execute(sa.select(table.c.connector_config).where(table.c.id == "labour.damaged")).scalar()
        envelope = stored["$sealed"]
        damaged = stored | {"$sealed": envelope[:-6] + ("AAAAAA" if envelope[-6:] != "AAAAAA" else "BBBBBB")}
        conn.execute(sa.update(table).where(table.c.id == "labour.damaged").values(connector_config=damaged))
    with caplog.at_level(logging.WARNING, logger="hub.connections"):
        answer = _query(hub, labour, "labour.damaged", person.resident_id, ["name"])
    assert answer.status_code == 502 and answer.json()["detail"] == "拒绝访问 refused"
    assert any("labour.damaged" in r.getMessage() for r in caplog.records if r.name == "hub.connections")


def test_an_envelope_opens_only_under_its_passphrase_and_for_its_source():
    sealer = Sealer(b"the passphrase")
    envelope = sealer.seal(b"s3cret", context=b"labour.insured")
    assert envelope.startswith("v1.") and b"s3cret" not in envelope.encode()
    assert Sealer(b"the passphrase").open(envelope, context=b"labour.insured") == b"s3cret"
    for opener, context in ((Sealer(b"another passphrase"), b"labour.insured"), (sealer, b"household.residents")):
        with pytest.raises(SealError):
            opener.open(envelope, context=context)
    for damaged in ("v2." + envelope[3:], envelope[:-2], "v1.!!!"):
        with pytest.raises(SealError):
            sealer.open(damaged, context=b"labour.insured")


def test_a_superuser_account_is_refused_at_registration(hub, departments, labour_db):
    # approved as a target, refused as an account: the hub checks who it logs in as before it stores the source
    response = register(hub, departments["labour"], _sql_source("labour.superuser", labour_db["admin"]))
    assert response.status_code == 422 and "is a superuser" in response.json()["detail"]
    assert hub.client.get("/sources/labour.superuser", headers=hub.operator_headers()).status_code == 404


@pytest.mark.parametrize(("query", "named"), [
    ("SELECT name, months_paid, resident_id FROM insured WHERE resident_id = :subject", "output column resident_id"),
    ("SELECT pg_read_file('/etc/hostname') AS name FROM insured WHERE resident_id = :subject", "pg_read_file"),
    ("SELECT name FROM insured WHERE resident_id = :subject; SELECT 1", "exactly one statement"),
    ("SELECT * FROM insured WHERE resident_id = :subject", "*"),
    ("SELECT usename AS name FROM pg_user WHERE usename = :subject", "pg_user"),
])
def test_templates_are_refused_at_registration_naming_what(hub, departments, labour_db, query, named):
    # refused before anything about its target is considered: no egress rule is needed to learn why
    response = hub.client.post("/sources", json=_sql_source("labour.crafted", labour_db["reader"], query),
                               headers=bearer(hub, departments["labour"]))
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"] and response.json()["type"] == "urn:hub:problem:validation_error"


def test_sqlite_templates_are_refused_at_registration_naming_what(hub, departments):
    for query, named in (("ATTACH DATABASE 'hub.db' AS hub", "ATTACH"),
                         ("SELECT load_extension('x') AS name FROM t WHERE id = :subject", "load_extension")):
        body = _sql_source("labour.sqlite", f"sqlite:///{hub.settings.resolved_sqlite_sources_dir() / 'x.db'}", query)
        response = hub.client.post("/sources", json=body, headers=bearer(hub, departments["labour"]))
        assert response.status_code == 422 and named in response.json()["detail"]


# --- what departments learn of a failing source ------------------------------------------------------------------

class _Banner:
    """A TCP service that is not HTTP: it greets every connection with an SSH banner and hangs up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")


@pytest.fixture(scope="module")
def failing_targets(request) -> dict[str, str]:
    """A closed port, a non-HTTP service and an HTTP server that fails every request."""
    banner = _Banner()
    request.addfinalizer(banner.sock.close)
    broken = ServerThread(Starlette(routes=[Route("/{path:path}", lambda r: PlainTextResponse("oops", 500))]))
    broken_url = broken.__enter__()
    request.addfinalizer(lambda: broken.__exit__(None, None, None))
    return {"closed": f"http://127.0.0.1:{free_port()}", "banner": f"http://127.0.0.1:{banner.port}",
            "http500": broken_url}


def test_a_closed_port_a_non_http_service_and_an_http_error_look_the_same(hub, departments, failing_targets,
                                                                           person, caplog):
    police = bearer(hub, departments["police"])
    problems = {}
    with caplog.at_level(logging.WARNING, logger="hub.connections"):
        for kind, url in failing_targets.items():
            body = household_source(url, source_id=f"probe.{kind}", timeout=1.0)
            registered = register(hub, departments["police"], body)
            assert registered.status_code == 201, registered.text
            assert registered.json()["health"]["status"] == "down"
            assert registered.json()["health"]["detail"] == UNREACHABLE
            answer = _query(hub, departments["police"], f"probe.{kind}", person.resident_id, ["name"])
            assert answer.status_code == 502
            problems[kind] = {k: v for k, v in answer.json().items() if k != "instance"}
    assert problems["closed"] == problems["banner"] == problems["http500"]
    assert problems["closed"]["detail"] == UNREACHABLE
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "hub.connections")
    for kind in failing_targets:  # the operator's log says which source and what the connector saw
        assert f"probe.{kind}" in logged
    assert "HTTP 500" in logged and "cannot connect" in logged


def test_a_silent_service_is_a_timeout_and_nothing_more(hub, departments, person):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does) and never answers
    try:
        body = household_source(f"http://127.0.0.1:{silent.getsockname()[1]}", source_id="probe.silent",
                                timeout=0.5)
        body["connector"]["config"]["retries"] = 0
        registered = register(hub, departments["police"], body)
        assert registered.json()["health"]["detail"] == "响应超时 timeout"
        answer = _query(hub, departments["police"], "probe.silent", person.resident_id, ["name"])
        assert answer.status_code == 504 and answer.json()["detail"] == "响应超时 timeout"
    finally:
        silent.close()


def test_issue_from_a_failing_source_says_one_word(hub, departments):
    gone = hub.settings.resolved_sqlite_sources_dir() / "gone" / "social.db"
    body = _sql_source("social_security.employers", f"sqlite:///{gone}",
                       "SELECT name, insured_employees, wage_arrears, period_start, period_end FROM employers "
                       "WHERE credit_code = :subject",
                       [{"name": n, "type": t, "label": n, "sensitivity": "public"} for n, t in (
                           ("name", "string"), ("insured_employees", "integer"), ("wage_arrears", "boolean"),
                           ("period_start", "date"), ("period_end", "date"))])
    body["subject_key"] = "credit_code"
    labour = bearer(hub, departments["labour"])
    assert register(hub, departments["labour"], body).status_code == 201
    holder = {"id_type": "credit_code", "id": departments["market"]["code"], "name": "示例市市场监督管理局"}
    response = hub.client.post("/licenses", json={"type": "11100000MB900004XD001", "holder": holder,
                                                  "from_source": True}, headers=labour)
    assert response.status_code == 502 and response.json()["detail"] == UNREACHABLE
