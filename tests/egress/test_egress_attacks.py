"""The attacks egress rules close, against a hub served over real HTTP on both backends: a department's SQL source
on the hub's own database, SSRF to the hub itself, loopback, metadata and link-local addresses, the registration
health check as a port scanner, and DNS rebinding past a rule."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import threading
from dataclasses import replace

import psutil
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from connectors import EgressRefused, build, parse_target
from demo_systems.population import companies
from demo_systems.social_security import build_database
from hub.catalogue.egress import PENDING_DETAIL
from tests.conftest import BACKENDS, bearer, reader_url, scratch_database
from tests.support.exchange_helpers import approve, household_source, serve_hub, start_counting

QUERY = "SELECT name FROM employers WHERE credit_code = :subject"
OWN_QUERY = "SELECT client_id AS name FROM oauth_clients WHERE client_id <> :subject"


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    """The hub over real HTTP and the count of requests reaching it."""
    return serve_hub(request.param, tmp_path_factory.mktemp(request.param.replace("+", "_")), request)


@pytest.fixture(scope="module")
def hub(served):
    return served[0]


def _sql_source(source_id: str, url: str, query: str = QUERY) -> dict:
    return {"id": source_id, "name": "社保单位", "category": "法人信息", "subject_key": "credit_code",
            "sharing_class": "not_shared", "fields": [{"name": "name", "label": "名称", "sensitivity": "public"}],
            "connector": {"type": "sql", "config": {"url": url, "query": query}}}


def _refused_everywhere(hub, department, target: str, body: dict) -> None:
    """Neither a rule nor a source may name the target: both are 422 target_refused, and nothing is written."""
    rule = hub.client.post("/egress-rules", json={"department": department["code"], "target": target},
                           headers=hub.operator_headers())
    assert rule.status_code == 422 and rule.json()["type"] == "urn:hub:problem:target_refused", (target, rule.text)
    source = hub.client.post("/sources", json=body, headers=bearer(hub, department))
    assert source.status_code == 422 and source.json()["type"] == "urn:hub:problem:target_refused", (target,
                                                                                                    source.text)
    assert hub.client.get(f"/sources/{body['id']}", headers=bearer(hub, department)).status_code == 404


def _own_database_urls(hub, tmp_path) -> list[str]:
    """The hub's own database, spelt every way a department might."""
    own = make_url(hub.settings.resolved_database_url())
    if own.drivername.startswith("sqlite"):
        path = own.database
        directory = hub.settings.resolved_sqlite_sources_dir()
        directory.mkdir(parents=True, exist_ok=True)
        link, hard = directory / f"innocent-{tmp_path.name}.db", directory / f"hard-{tmp_path.name}.db"
        link.symlink_to(path)
        os.link(path, hard)
        parent, name = os.path.split(path)
        return [f"sqlite:///{path}", f"sqlite:///{parent}/./x/..//{name}", f"sqlite:///{path}-wal",
                f"sqlite:///{link}", f"sqlite:///{hard}"]
    base = f"postgresql+psycopg://{own.username}@{{host}}:{own.port or 5432}/{own.database}"
    hosts = ["127.0.0.1", "localhost", socket.gethostname(), "127.0.0.2", "[::ffff:127.0.0.1]"]
    hosts += [a.address for addresses in psutil.net_if_addrs().values() for a in addresses
              if a.family == socket.AF_INET and not a.address.startswith("127.")][:1]  # this machine's interface
    return [base.format(host=host) for host in hosts]


def test_a_sql_source_on_the_hubs_own_database_is_refused_and_reads_nothing(hub, departments, tmp_path):
    labour = departments["labour"]
    for n, url in enumerate(_own_database_urls(hub, tmp_path)):
        target = str(parse_target(url.replace("+psycopg", "").replace("postgres@", "")))
        _refused_everywhere(hub, labour, target, _sql_source(f"own.db{n}", url, OWN_QUERY))


def test_sqlite_files_outside_the_directory_are_refused_without_telling_whether_they_exist(hub, departments):
    labour = departments["labour"]
    answers = []
    for path in ("/etc/passwd", "/etc/no-such-file-here"):
        response = hub.client.post("/sources", json=_sql_source("outside.dir", f"sqlite:///{path}"),
                                   headers=bearer(hub, labour))
        assert response.status_code == 422 and response.json()["type"] == "urn:hub:problem:target_refused"
        answers.append(response.json()["detail"].replace(path, "PATH"))
    assert answers[0] == answers[1]  # no oracle of which files exist


def test_a_sqlite_source_swapped_for_a_link_elsewhere_is_not_read(hub, departments, tmp_path):
    labour = departments["labour"]
    directory = hub.settings.resolved_sqlite_sources_dir()
    directory.mkdir(parents=True, exist_ok=True)
    real = directory / f"social-{tmp_path.name}.db"
    build_database(real, people_n=50)
    outside = tmp_path / "copy.db"
    build_database(outside, people_n=50)
    approve(hub, labour, f"sqlite:///{real}")
    source_id = f"swapped.{tmp_path.name[-12:].lower().replace('_', '-')}"
    assert hub.client.post("/sources", json=_sql_source(source_id, f"sqlite:///{real}"),
                           headers=bearer(hub, labour)).status_code == 201
    company = companies()[0].credit_code
    query = {"subject": company, "fields": ["name"], "purpose": "核验"}
    assert hub.client.post(f"/exchange/{source_id}/query", json=query, headers=bearer(hub, labour)).status_code == 200
    real.unlink()
    real.symlink_to(outside)  # now the approved path leads outside the directory
    # This worker authorised the query from its cache: the connector refuses as it checks the file out...
    answer = hub.client.post(f"/exchange/{source_id}/query", json=query, headers=bearer(hub, labour))
    assert answer.status_code == 403 and answer.json()["type"] == "urn:hub:problem:egress_refused", answer.text
    # ...and the catalogue, computed from the rules, shows the source pending review: a fresh plan says so too.
    assert hub.client.get(f"/sources/{source_id}", headers=bearer(hub, labour)).json()["egress"]["status"] == \
        "pending_review"
    hub.app.state.services.exchange.forget()
    answer = hub.client.post(f"/exchange/{source_id}/query", json=query, headers=bearer(hub, labour))
    assert answer.status_code == 409 and answer.json()["type"] == "urn:hub:problem:source_pending_review"
    guard = hub.app.state.services.connections.guard.approving([parse_target(f"sqlite:///{real}")])
    connector = build("sql", {"url": f"sqlite:///{real}", "query": QUERY}, egress=guard)
    with pytest.raises(EgressRefused, match="outside the directory"):  # whatever was approved
        asyncio.run(connector.fetch(company, ["name"]))
    asyncio.run(connector.aclose())


def _hub_itself(hub) -> list[str]:
    port = hub.settings.port
    spellings = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://127.0.0.2:{port}",
                 f"http://[::ffff:127.0.0.1]:{port}", f"http://0.0.0.0:{port}", f"http://[::1]:{port}"]
    spellings += [f"http://{a.address}:{port}" for addresses in psutil.net_if_addrs().values() for a in addresses
                  if a.family == socket.AF_INET and not a.address.startswith("127.")][:1]
    return spellings


METADATA_AND_LINK_LOCAL = ["http://169.254.169.254", "http://169.254.170.2", "http://[fe80::1]",
                           "http://100.100.100.200", "http://[fd00:ec2::254]", "http://168.63.129.16",
                           "http://[::ffff:169.254.169.254]", "http://[64:ff9b::a9fe:a9fe]", "http://0.0.0.0:80",
                           "http://[::]", "http://224.0.0.1", "http://255.255.255.255"]


def test_ssrf_targets_are_refused_and_never_contacted(served, departments):
    hub, counted = served
    police = departments["police"]
    for n, target in enumerate(_hub_itself(hub) + METADATA_AND_LINK_LOCAL):
        body = household_source(target, source_id=f"ssrf.{n}", path="/probe/{subject}")
        body["connector"]["config"]["health_url"] = f"{target}/probe-health"
        _refused_everywhere(hub, police, target, body)
    assert counted.hits["/egress-rules"] > 0  # the count sees the hub's own requests...
    assert [path for path in counted.hits if path.startswith("/probe")] == []  # ...and never a probe


def test_registration_cannot_tell_a_closed_port_a_listener_and_a_web_server_apart(hub, departments, request):
    web, system = start_counting(request)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept() -> None:
        try:
            accepted.append(listener.accept())
        except OSError:  # closed at the end of the test, with nobody having connected
            pass

    threading.Thread(target=accept, daemon=True).start()
    request.addfinalizer(listener.close)
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    answers = []
    for n, url in enumerate((f"http://127.0.0.1:{closed_port}", f"http://127.0.0.1:{listener.getsockname()[1]}",
                             web)):
        response = hub.client.post("/sources", json=household_source(url, source_id=f"scan.{n}"),
                                   headers=bearer(hub, departments["police"]))
        assert response.status_code == 201, response.text
        answers.append((response.json()["health"], response.json()["egress"]["status"]))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0]["detail"] == PENDING_DETAIL and answers[0][1] == "pending_review"
    assert system.total == 0 and accepted == []


def test_a_name_is_connected_to_at_the_address_checked_when_it_was_resolved(hub, request):
    """DNS rebinding: `rebind.invalid` cannot resolve through the system, so the connector can reach the counting
    server only at the address the guard's own lookup answered and checked; when the next lookup answers the
    metadata address, the connection is refused and the server sees nothing more."""
    url, system = start_counting(request)
    port = int(url.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1", "169.254.169.254", "169.254.169.254"])
    lookups = []

    def rebinding(host: str, port_: int) -> list:
        if host != "rebind.invalid":
            return hub.app.state.services.connections.guard.resolve(host, port_)
        lookups.append(host)
        return [ipaddress.ip_address(next(answers))]

    target = parse_target(f"http://rebind.invalid:{port}")
    guard = replace(hub.app.state.services.connections.guard, resolve=rebinding).approving([target])
    config = {"url": f"http://rebind.invalid:{port}/residents/{{subject}}", "retries": 0, "timeout": 2}

    async def twice() -> None:
        first = build("rest", config, egress=guard)
        assert await first.fetch("110105199001010010", ["name"]) == {"name": "张三"}
        await first.aclose()
        second = build("rest", config, egress=guard)  # a new connection: resolved again, through the guard
        with pytest.raises(EgressRefused, match="169.254.169.254"):
            await second.fetch("110105199001010010", ["name"])
        assert not (await second.health()).ok
        await second.aclose()

    asyncio.run(twice())
    assert system.hits["/residents/110105199001010010"] == 1 and system.total == 1
    assert lookups == ["rebind.invalid"] * 3


def test_postgresql_connects_to_the_address_checked_and_never_to_the_hubs_database(hub, request):
    database = scratch_database(request, "dept")
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE employers (credit_code text PRIMARY KEY, name text)"))
        conn.execute(sa.text("INSERT INTO employers VALUES ('91350100M000100Y43', '示例单位')"))
    engine.dispose()
    dept = make_url(reader_url(request, database, ["employers"]))  # the least-privilege account a department gives

    def lookup(host: str, port: int) -> list:
        return [ipaddress.ip_address("127.0.0.1")] if host == "pg.invalid" else \
            hub.app.state.services.connections.guard.resolve(host, port)

    urls = {"dept": dept.set(host="pg.invalid").render_as_string(hide_password=False)}
    own = make_url(hub.settings.resolved_database_url())
    if own.drivername.startswith("postgresql"):
        urls["own"] = own.set(host="pg.invalid").render_as_string(hide_password=False)
    guard = replace(hub.app.state.services.connections.guard, resolve=lookup)
    guard = guard.approving([parse_target(f"postgresql://{u.host}:{u.port or 5432}/{u.database}")
                             for u in map(make_url, urls.values())])

    async def run() -> None:
        connector = build("sql", {"url": urls["dept"], "query": QUERY}, egress=guard)
        assert await connector.fetch("91350100M000100Y43", ["name"]) == {"name": "示例单位"}  # via hostaddr
        await connector.aclose()
        if "own" in urls:
            own_connector = build("sql", {"url": urls["own"], "query": OWN_QUERY}, egress=guard)
            with pytest.raises(EgressRefused, match="own database"):
                await own_connector.fetch("x", ["name"])
            await own_connector.aclose()

    asyncio.run(run())
