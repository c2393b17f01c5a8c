"""Egress rules: a connector reaches only the targets the operator approved for its department; a source whose
target is not approved is pending review and never contacted. Against a hub served over real HTTP, both backends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from hub.audit.tables import AuditEntry
from hub.catalogue.connections import Connections
from hub.catalogue.health import check_sources
from tests.conftest import BACKENDS, ROOT, bearer, citizen_headers
from tests.support.exchange_helpers import approve, citizens, household_source, register, serve_hub, start_counting

PURPOSE = "办理婚姻登记：核验户籍信息"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request, tmp_path_factory):
    """The hub over real HTTP on loopback (see serve_hub), per backend pair."""
    return serve_hub(request.param, tmp_path_factory.mktemp(request.param.replace("+", "_")), request)[0]


@pytest.fixture(scope="module")
def person():
    return citizens(1)[0]


def _query(hub, department, subject, source, fields=("name",)):
    body = {"subject": subject, "fields": list(fields), "purpose": PURPOSE}
    return hub.client.post(f"/exchange/{source}/query", json=body, headers=bearer(hub, department))


def _rules(hub, department) -> list[str]:
    listed = hub.client.get("/egress-rules", params={"department": department["code"]}, headers=hub.operator_headers())
    assert listed.status_code == 200, listed.text
    return [rule["target"] for rule in listed.json()]


def health_round(hub) -> dict[str, str]:
    """One round of the periodic health check, with the hub's own egress guard."""
    state = hub.app.state.services

    async def run() -> dict[str, str]:
        connections = Connections(state.engine, state.connections.guard, secrets=state.connections.secrets)
        try:
            return await check_sources(state.session_factory, connections, now=hub.clock)
        finally:
            await connections.aclose()

    return asyncio.run(run())


def _audited(hub, kind: str) -> list[dict]:
    with hub.app.state.services.session_factory() as session:
        rows = session.scalars(sa.select(AuditEntry.data).where(AuditEntry.kind == kind)).all()
    return [json.loads(row) for row in rows]


def test_only_the_operator_manages_egress_rules(hub, departments, person, request):
    url, _ = start_counting(request)
    police = departments["police"]
    rule = approve(hub, police, url)
    body = {"department": police["code"], "target": url.replace("127.0.0.1", "localhost")}
    for headers in (bearer(hub, police), bearer(hub, departments["civil"]), citizen_headers(hub, person.resident_id)):
        assert hub.client.post("/egress-rules", json=body, headers=headers).status_code == 403
        assert hub.client.get("/egress-rules", headers=headers).status_code == 403
        assert hub.client.delete(f"/egress-rules/{rule['id']}", headers=headers).status_code == 403
    assert hub.client.post("/egress-rules", json=body).status_code == 401
    assert hub.client.delete(f"/egress-rules/{rule['id']}").status_code == 401
    assert _rules(hub, police) == [rule["target"]]  # the refused calls wrote nothing


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:8101/residents", "http://user:secret@127.0.0.1:8101", "ftp://127.0.0.1", "127.0.0.1:8101",
    "sqlite:///relative.db", "http://127.1:8101", "http://0x7f000001", "http://2130706433", "http://h:70000",
    "https://*.example.gov.cn", "postgresql://db.example:5432", "postgresql://db.example/labour?host=/tmp",
    "postgresql:///labour", "http://[fe80::1%25eth0]", "http://a_b.example", "http://127.0.0.1:8101?x=1",
])
def test_a_target_outside_the_grammar_is_refused_and_nothing_is_written(hub, departments, target):
    before = _rules(hub, departments["police"])
    body = {"department": departments["police"]["code"], "target": target}
    response = hub.client.post("/egress-rules", json=body, headers=hub.operator_headers())
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:hub:problem:validation_error" and "target" in response.json()["detail"]
    assert _rules(hub, departments["police"]) == before


def test_rules_are_kept_canonical_unique_and_audited(hub, departments):
    labour, operator = departments["labour"], hub.operator_headers()
    sqlite_file = hub.settings.resolved_sqlite_sources_dir() / "labour.db"
    cases = {"HTTPS://API.Example.gov.cn": "https://api.example.gov.cn:443",
             "http://[::1]:8080/": "http://[::1]:8080",
             "postgresql+psycopg://DB.example/labour": "postgresql://db.example:5432/labour",
             f"sqlite:///{sqlite_file.parent}/./sub/../labour.db": f"sqlite:///{sqlite_file}"}
    for text, canonical in cases.items():
        created = hub.client.post("/egress-rules", json={"department": labour["code"], "target": text},
                                  headers=operator)
        assert created.status_code == 201, created.text
        assert created.json()["target"] == canonical and created.json()["department"]["code"] == labour["code"]
        again = hub.client.post("/egress-rules", json={"department": labour["code"], "target": canonical},
                                headers=operator)
        assert again.status_code == 409
    unknown = hub.client.post("/egress-rules", json={"department": "91350100M000100Y43", "target": "http://h"},
                              headers=operator)
    assert unknown.status_code == 422
    listed = hub.client.get("/egress-rules", params={"department": labour["code"]}, headers=operator).json()
    assert sorted(rule["target"] for rule in listed) == sorted(cases.values())
    gone = next(rule for rule in listed if rule["target"].startswith("https://"))
    assert hub.client.delete(f"/egress-rules/{gone['id']}", headers=operator).status_code == 204
    assert hub.client.delete(f"/egress-rules/{gone['id']}", headers=operator).status_code == 404
    allowed = [e for e in _audited(hub, "egress.allowed") if e["department_code"] == labour["code"]]
    assert sorted(e["target"] for e in allowed) == sorted(cases.values())
    assert [e["target"] for e in _audited(hub, "egress.revoked")] == ["https://api.example.gov.cn:443"]


def test_a_source_is_not_contacted_until_its_target_is_approved_nor_after_the_rule_is_revoked(
        hub, departments, person, request):
    url, system = start_counting(request)
    police, civil = departments["police"], departments["civil"]
    body = household_source(url, source_id="pending.residents", sharing="unconditional")
    registered = hub.client.post("/sources", json=body, headers=bearer(hub, police))
    assert registered.status_code == 201, registered.text
    assert registered.json()["egress"] == {"status": "pending_review", "targets": [{"target": url, "approved": False}]}
    assert registered.json()["health"]["status"] == "unknown"
    hub.client.post("/grants", json={"source": "pending.residents", "fields": ["name"], "purpose": PURPOSE,
                                     "legal_basis": "《婚姻登记条例》第五条"}, headers=bearer(hub, civil))
    for department in (police, civil):  # the owner as well as a granted department
        refused = _query(hub, department, person.resident_id, "pending.residents")
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "urn:hub:problem:source_pending_review"
    assert health_round(hub)["pending.residents"] == "unknown"
    assert system.total == 0  # not the registration's health check, not a query, not the periodic round

    rule = approve(hub, police, url)
    shown = hub.client.get("/sources/pending.residents", headers=bearer(hub, police)).json()
    assert shown["egress"] == {"status": "approved", "targets": [{"target": url, "approved": True}]}
    # another department learns that the source is live, not where its system is
    shown = hub.client.get("/sources/pending.residents", headers=bearer(hub, civil)).json()
    assert shown["egress"] == {"status": "approved", "targets": []}
    answered = _query(hub, civil, person.resident_id, "pending.residents")
    assert answered.status_code == 200 and answered.json()["record"] == {"name": "张三"}
    assert health_round(hub)["pending.residents"] == "ok"
    assert system.hits[f"/residents/{person.resident_id}"] == 1 and system.hits["/health"] >= 1

    assert hub.client.delete(f"/egress-rules/{rule['id']}", headers=hub.operator_headers()).status_code == 204
    before = system.total
    assert _query(hub, civil, person.resident_id, "pending.residents").status_code == 409
    assert _query(hub, police, person.resident_id, "pending.residents").status_code == 409
    assert health_round(hub)["pending.residents"] == "unknown"
    assert system.total == before
    assert hub.client.get("/sources/pending.residents", headers=bearer(hub, police)).json()["egress"]["status"] == \
        "pending_review"


def test_a_rule_of_another_department_does_not_approve_a_source(hub, departments, request):
    url, system = start_counting(request)
    approve(hub, departments["civil"], url)  # civil's rule, police's source
    body = household_source(url, source_id="other.department")
    response = hub.client.post("/sources", json=body, headers=bearer(hub, departments["police"]))
    assert response.status_code == 201 and response.json()["egress"]["status"] == "pending_review"
    assert system.total == 0


def test_a_health_url_elsewhere_needs_its_own_rule(hub, departments, request):
    url, system = start_counting(request)
    health, health_system = start_counting(request)
    police = departments["police"]
    approve(hub, police, url)
    body = household_source(url, source_id="split.health")
    body["connector"]["config"]["health_url"] = f"{health}/health"
    response = hub.client.post("/sources", json=body, headers=bearer(hub, police))
    assert response.json()["egress"]["status"] == "pending_review", response.text
    assert (system.total, health_system.total) == (0, 0)


def test_redirects_are_never_followed(hub, departments, person, request, caplog):
    url, system = start_counting(request)
    elsewhere, other = start_counting(request)
    system.app.state.location = elsewhere
    police = departments["police"]
    body = household_source(url, source_id="redirecting.residents", path="/redirect/{subject}")
    body["connector"]["config"]["health_url"] = f"{url}/health-redirect"
    with caplog.at_level("WARNING", logger="hub.connections"):
        response = register(hub, police, body)
        assert response.status_code == 201 and response.json()["health"]["status"] == "down"
        answer = _query(hub, police, person.resident_id, "redirecting.residents")
    assert answer.status_code == 502 and answer.json()["detail"] == "无法连接 unreachable"
    # the department is told one word; the operator's log says a redirect came back, for the health check and the query
    said = [r.getMessage() for r in caplog.records if "redirecting.residents" in r.getMessage()]
    assert sum("302" in message for message in said) == 2, said
    approve(hub, police, elsewhere)  # even to an approved target: a redirect is an answer, never followed
    assert _query(hub, police, person.resident_id, "redirecting.residents").status_code == 502
    assert system.hits[f"/redirect/{person.resident_id}"] == 2 and other.total == 0


def _cli(hub, *args: str) -> subprocess.CompletedProcess:
    settings = hub.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {
        "HUB_VAR_DIR": str(settings.var_dir), "HUB_DATABASE_URL": settings.resolved_database_url(),
        "HUB_KEY_PASSPHRASE": "test-passphrase", "HUB_PUBLIC_URL": settings.public_url, "HUB_PORT": str(settings.port),
        "HUB_STORAGE_URL": settings.storage_url, "HUB_LICENSE_TYPES_DIR": str(settings.license_types_dir),
        "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "hub.cli", "connectors", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_allows_lists_and_revokes_rules(hub, departments, request):
    url, _ = start_counting(request)
    market = departments["market"]
    allowed = _cli(hub, "allow", market["code"], url + "/")
    assert allowed.returncode == 0, allowed.stderr + allowed.stdout
    assert _rules(hub, market) == [url]
    body = household_source(url, source_id="market.cli")
    assert hub.client.post("/sources", json=body, headers=bearer(hub, market)).json()["egress"]["status"] == "approved"
    listed = _cli(hub, "list", "--department", market["code"])
    assert listed.returncode == 0 and url in listed.stdout
    refused = _cli(hub, "allow", market["code"], "http://169.254.169.254")
    assert refused.returncode == 2 and "link-local" in refused.stdout
    rule = hub.client.get("/egress-rules", params={"department": market["code"]}, headers=hub.operator_headers())
    revoked = _cli(hub, "revoke", rule.json()[0]["id"])
    assert revoked.returncode == 0, revoked.stdout
    assert _rules(hub, market) == []
    waiting = _cli(hub, "list")
    assert "market.cli" in waiting.stdout and url in waiting.stdout  # awaiting review again


def test_a_rule_revoked_elsewhere_withholds_the_answer_of_a_query_authorised_from_the_cache(
        hub, departments, person, request):
    """Another worker (or `hub connectors revoke`) deletes the rule: this worker's cached authorisation still lets
    one query reach the system, but the audit write sees the registry changed and withholds the answer."""
    from hub.egress.rules import revoke_rule

    url, system = start_counting(request)
    police = departments["police"]
    rule = approve(hub, police, url)
    assert register(hub, police, household_source(url, source_id="revoked.elsewhere")).status_code == 201
    assert _query(hub, police, person.resident_id, "revoked.elsewhere").status_code == 200  # now cached
    with hub.app.state.services.session_factory.begin() as session:  # not through this worker's API: its cache stays
        revoke_rule(session, rule["id"], actor="operator", pepper=hub.app.state.services.pepper, now=hub.clock())
    queries = len([e for e in _audited(hub, "exchange.query") if e["source_id"] == "revoked.elsewhere"])
    withheld = _query(hub, police, person.resident_id, "revoked.elsewhere")
    assert withheld.status_code == 409 and "张三" not in withheld.text
    assert len([e for e in _audited(hub, "exchange.query") if e["source_id"] == "revoked.elsewhere"]) == queries
    before = system.hits[f"/residents/{person.resident_id}"]
    assert _query(hub, police, person.resident_id, "revoked.elsewhere").status_code == 409
    assert system.hits[f"/residents/{person.resident_id}"] == before  # from then on, not contacted
