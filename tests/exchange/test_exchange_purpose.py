"""Purpose bound to the grant: a query is answered only for a purpose its grant was approved for, with the fields
granted for that purpose; a free-text detail travels to the audit log, the receipt and the citizen's access log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hub.audit.tables import AuditEntry
from hub.demo.sources import DEMO_GRANTS
from hub.exchange.receipts import digest, verify_receipt
from hub.licenses.types import load_license_types
from tests.conftest import ROOT, bearer, citizen_headers, root_der
from tests.support.exchange_helpers import (
    citizens,
    household_source,
    register,
    register_household,
    start_misbehaving,
)

MARRIAGE = "婚姻登记核验当事人户籍信息"
ENTERPRISE = "企业设立登记：核验法定代表人户籍信息"


@pytest.fixture(scope="module")
def household(hub, departments, request) -> str:
    """The household registry source, registered by the police department."""
    return register_household(hub, departments, request)


@pytest.fixture(scope="module")
def counted(hub, departments, request):
    """A source on a loopback server that counts the reads it answers (its /gate path), granted to 民政局 for
    MARRIAGE."""
    url, app = start_misbehaving(request)
    body = household_source(url, source_id="counted.residents", path="/gate/{subject}")
    assert register(hub, departments["police"], body).status_code == 201
    _granted(hub, departments, "civil", ["name", "gender"], MARRIAGE, source="counted.residents")
    return app


@pytest.fixture(scope="module")
def person():
    return citizens(1)[0]


def _granted(hub, departments, who: str, fields: list[str], purpose: str, source="household.residents") -> dict:
    """Ask for a grant as `who` and have the owner (police) approve it."""
    asked = hub.client.post("/grants", json={"source": source, "fields": fields, "purpose": purpose,
                                             "legal_basis": "《婚姻登记条例》第五条"}, headers=bearer(hub, departments[who]))
    assert asked.status_code == 201, asked.text
    approved = hub.client.post(f"/grants/{asked.json()['id']}/approve", headers=bearer(hub, departments["police"]))
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    return approved.json()


def _query(hub, department, subject, fields, purpose, source="household.residents", **extra):
    body = {"subject": subject, "fields": fields, "purpose": purpose} | extra
    return hub.client.post(f"/exchange/{source}/query", json=body, headers=bearer(hub, department))


def _answered_queries(hub) -> int:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.kind == "exchange.query"))


def _entry_data(hub, entry_id: str) -> dict:
    with hub.app.state.services.session_factory() as session:
        return json.loads(session.get(AuditEntry, entry_id).data)


@pytest.mark.parametrize("stated", ["x", "随便看看", "婚姻登记核验当事人户籍", MARRIAGE + "（补充）"])
def test_a_query_stating_another_purpose_is_refused_and_nothing_is_fetched(hub, departments, counted, person,
                                                                           stated):
    civil = departments["civil"]
    warm = _query(hub, civil, person.resident_id, ["name"], MARRIAGE, source="counted.residents")
    assert warm.status_code == 200, warm.text  # the grant is cached now: the refusal must hold on the cached path
    reads, answered = counted.state.hits["gate"], _answered_queries(hub)
    refused = _query(hub, civil, person.resident_id, ["name"], stated, source="counted.residents")
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"] == "urn:hub:problem:purpose_not_granted"
    assert problem["granted_purposes"] == [MARRIAGE] and MARRIAGE in problem["detail"]
    assert "张三" not in refused.text
    assert counted.state.hits["gate"] == reads and _answered_queries(hub) == answered


def test_the_purpose_matches_after_the_same_normalisation_as_the_grant(hub, departments, counted, person):
    spaced = f"  {MARRIAGE}\t"
    answer = _query(hub, departments["civil"], person.resident_id, ["name"], spaced, source="counted.residents")
    assert answer.status_code == 200, answer.text
    assert verify_receipt(answer.json()["receipt"], root_der(hub))["purpose"] == MARRIAGE


def test_two_grants_for_two_purposes_answer_each_with_its_own_fields(hub, departments, household, person):
    market = departments["market"]
    _granted(hub, departments, "market", ["name"], ENTERPRISE)
    _granted(hub, departments, "market", ["birth_date", "gender"], "个体工商户登记：核验经营者身份")
    fields = ["name", "gender", "birth_date"]

    enterprise = _query(hub, market, person.resident_id, fields, ENTERPRISE)
    assert enterprise.status_code == 200, enterprise.text
    assert enterprise.json()["record"] == {"name": person.name}
    assert sorted(enterprise.json()["withheld"]) == ["birth_date", "gender"]

    trader = _query(hub, market, person.resident_id, fields, "个体工商户登记：核验经营者身份")
    assert trader.status_code == 200, trader.text
    assert set(trader.json()["record"]) == {"gender", "birth_date"} and trader.json()["withheld"] == ["name"]

    other = _query(hub, market, person.resident_id, ["name"], "随便看看")
    assert other.status_code == 403 and other.json()["type"] == "urn:hub:problem:purpose_not_granted"
    assert other.json()["granted_purposes"] == sorted([ENTERPRISE, "个体工商户登记：核验经营者身份"])
    only_other_fields = _query(hub, market, person.resident_id, ["address"], ENTERPRISE)
    assert only_other_fields.status_code == 403
    assert only_other_fields.json()["type"] == "urn:hub:problem:grant_required"


def test_a_department_without_any_grant_is_told_to_ask_for_one(hub, departments, household, person):
    refused = _query(hub, departments["land"], person.resident_id, ["name"], MARRIAGE)
    assert refused.status_code == 403 and refused.json()["type"] == "urn:hub:problem:grant_required"


def test_the_owner_reads_its_own_source_whatever_the_purpose(hub, departments, household, person):
    answer = _query(hub, departments["police"], person.resident_id, ["name"], "户籍信息自查")
    assert answer.status_code == 200 and answer.json()["record"] == {"name": person.name}


def test_consent_stays_bound_to_its_purpose_under_two_granted_purposes(hub, departments, household, person):
    labour = departments["labour"]
    first, second = "就业登记：核验劳动者民族信息", "社会保险登记：核验参保人民族信息"
    for purpose in (first, second):
        _granted(hub, departments, "labour", ["ethnicity"], purpose)
    asked = hub.client.post("/consents", json={"subject": person.resident_id, "source": "household.residents",
                                               "fields": ["ethnicity"], "purpose": first}, headers=bearer(hub, labour))
    consent = asked.json()["id"]
    mine = citizen_headers(hub, person.resident_id)
    assert hub.client.post(f"/me/consents/{consent}/approve", headers=mine).json()["status"] == "approved"
    assert _query(hub, labour, person.resident_id, ["ethnicity"], first, consent=consent).status_code == 200
    refused = _query(hub, labour, person.resident_id, ["ethnicity"], second, consent=consent)
    assert refused.status_code == 403 and refused.json()["type"] == "urn:hub:problem:consent_required"


def test_the_detail_reaches_the_audit_entry_the_receipt_and_the_citizens_access_log(hub, departments, household):
    citizen = citizens(3)[2]
    detail = "案件编号：（2026）示例民登字第0042号"
    _granted(hub, departments, "civil", ["name", "gender"], MARRIAGE)
    answer = _query(hub, departments["civil"], citizen.resident_id, ["name"], MARRIAGE, detail=detail)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    entry = _entry_data(hub, body["audit"]["entry_id"])
    assert entry["detail"] == detail and entry["purpose"] == MARRIAGE
    claims = verify_receipt(body["receipt"], root_der(hub))
    assert claims["detail"] == detail
    assert claims["request_hash"] == digest({"source": "household.residents", "subject": citizen.resident_id,
                                             "fields": ["name"], "purpose": MARRIAGE, "detail": detail,
                                             "consent": None, "requester": departments["civil"]["code"]})
    log = hub.client.get("/me/access-log", headers=citizen_headers(hub, citizen.resident_id)).json()
    item = next(i for i in log["items"] if i["entry_id"] == body["audit"]["entry_id"])
    assert (item["detail"], item["purpose"]) == (detail, MARRIAGE)

    plain = _query(hub, departments["civil"], citizen.resident_id, ["name"], MARRIAGE)
    assert verify_receipt(plain.json()["receipt"], root_der(hub))["detail"] is None
    assert _entry_data(hub, plain.json()["audit"]["entry_id"])["detail"] is None


@pytest.mark.parametrize("detail, status", [("长" * 201, 422), ("   ", 422), ("", 422), ("长" * 200, 200)])
def test_a_detail_over_200_characters_or_blank_is_refused_and_audits_nothing(hub, departments, household, person,
                                                                             detail, status):
    _granted(hub, departments, "civil", ["name"], MARRIAGE)
    answered = _answered_queries(hub)
    response = _query(hub, departments["civil"], person.resident_id, ["name"], MARRIAGE, detail=detail)
    assert response.status_code == status, response.text
    assert _answered_queries(hub) == answered + (status == 200)


def test_a_source_bound_license_type_states_a_purpose_its_issuers_are_granted_in_the_demo():
    """Issue-from-source queries are bound too: each issuer owns the source or holds a demo grant for the purpose."""
    owners = {}
    for path in (ROOT / "schemas" / "sources").glob("*.yaml"):
        definition = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        owners[definition["id"]] = definition["owner"]
    bound = [t for t in load_license_types(ROOT / "schemas" / "license-types").values() if t.from_source]
    assert bound, "no shipped license type takes its data from a source"
    for license_type in bound:
        binding = license_type.from_source
        needed = set(binding.fields.values()) | set(binding.require)
        for issuer in license_type.issuers:
            granted = {f for code, source, fields, purpose, _ in DEMO_GRANTS
                       if (code, source, purpose) == (issuer, binding.source, binding.purpose) for f in fields}
            assert owners[binding.source] == issuer or needed <= granted, (license_type.code, issuer)


def test_each_granted_purpose_is_answered_from_the_workers_cache(hub, departments, household, person):
    """One read of a department's grants on a source serves every purpose it holds: no grant read per query."""
    market = departments["market"]
    purposes = [ENTERPRISE, "个体工商户登记：核验经营者身份"]
    for purpose in purposes:
        _granted(hub, departments, "market", ["name"], purpose)
        assert _query(hub, market, person.resident_id, ["name"], purpose).status_code == 200
    statements: list[str] = []
    engine = hub.app.state.services.engine

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement.lower())

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        for purpose in purposes * 3:
            assert _query(hub, market, person.resident_id, ["name"], purpose).status_code == 200
        assert _query(hub, market, person.resident_id, ["name"], "随便看看").status_code == 403
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    grant_reads = [s for s in statements if "join grants" in s]  # the query path's read of a source's grants
    assert len(grant_reads) == 1, grant_reads  # the refusal's: it rereads, so a grant approved meanwhile counts
