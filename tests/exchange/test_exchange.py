"""The exchange: catalogue, grants, the query with granted fields only, consent, receipts, failures of sources."""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hub.audit.tables import AuditEntry
from hub.exchange.receipts import digest, verify_receipt
from tests.conftest import bearer, citizen_headers, root_der
from tests.support.exchange_helpers import (
    HOUSEHOLD_KEY,
    approve,
    citizens,
    household_source,
    register,
    register_household,
    start_household,
    start_misbehaving,
)
from tests.support.servers import free_port

PURPOSE = "办理婚姻登记：核验户籍信息"


@pytest.fixture(scope="module")
def household(hub, departments, request) -> str:
    """The household registry source, registered by the police department."""
    return register_household(hub, departments, request)


@pytest.fixture(scope="module")
def person():
    return citizens(1)[0]


def _query(hub, department, subject, fields, purpose=PURPOSE, source="household.residents", **extra):
    body = {"subject": subject, "fields": fields, "purpose": purpose} | extra
    return hub.client.post(f"/exchange/{source}/query", json=body, headers=bearer(hub, department))


def _audit_count(hub) -> int:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


def _grant(hub, department, fields, source="household.residents") -> dict:
    response = hub.client.post("/grants", json={"source": source, "fields": fields, "purpose": PURPOSE,
                                                "legal_basis": "《婚姻登记条例》第五条"}, headers=bearer(hub, department))
    assert response.status_code == 201, response.text
    return response.json()


def test_registered_source_is_in_the_catalogue_with_secrets_hidden(hub, departments, household):
    listed = hub.client.get("/sources", headers=bearer(hub, departments["civil"])).json()
    source = next(s for s in listed if s["id"] == "household.residents")
    assert source["owner"]["code"] == departments["police"]["code"]
    assert source["health"] == {"status": "ok", "detail": "正常 ok", "checked_at": source["health"]["checked_at"]}
    for viewer in (bearer(hub, departments["police"]), hub.operator_headers()):
        shown = hub.client.get("/sources/household.residents", headers=viewer)
        assert shown.json()["connector"]["config"]["auth_header"]["value"] == "***"
        assert HOUSEHOLD_KEY not in shown.text


def test_other_departments_see_the_catalogue_entry_without_its_connector(hub, departments, household):
    civil = bearer(hub, departments["civil"])
    listed = next(s for s in hub.client.get("/sources", headers=civil).json() if s["id"] == "household.residents")
    one = hub.client.get("/sources/household.residents", headers=civil).json()
    assert listed["connector"] is None and one["connector"] is None
    assert one["fields"] and one["owner"]["code"] == departments["police"]["code"]
    assert "127.0.0.1" not in hub.client.get("/sources/household.residents", headers=civil).text
    owned = hub.client.get("/sources", params={"owner": departments["police"]["code"]},
                           headers=bearer(hub, departments["police"])).json()
    assert all(s["connector"] is not None for s in owned)


def test_registration_is_refused_for_bad_config_duplicates_and_non_departments(hub, departments, household):
    police = bearer(hub, departments["police"])
    bad = household_source(household, source_id="bad.config")
    bad["connector"]["config"]["url"] = "ftp://nowhere"
    assert hub.client.post("/sources", json=bad, headers=police).status_code == 422
    assert hub.client.post("/sources", json=household_source(household), headers=police).status_code == 409
    assert hub.client.post("/sources", json=household_source(household, source_id="op.source"),
                           headers=hub.operator_headers()).status_code == 403
    assert hub.client.get("/sources/household.residents").status_code == 401
    assert hub.client.get("/sources/no.such", headers=police).status_code == 404


def test_a_source_whose_system_is_down_registers_as_down(hub, departments):
    body = household_source("http://127.0.0.1:9", source_id="household.offline")
    response = register(hub, departments["police"], body)
    assert response.status_code == 201, response.text
    assert response.json()["health"]["status"] == "down"


def test_no_grant_means_403_and_nothing_is_fetched(hub, departments, household, person):
    response = _query(hub, departments["land"], person.resident_id, ["name"])
    assert response.status_code == 403
    assert response.json()["type"] == "urn:hub:problem:grant_required"


def test_conditional_grant_waits_for_the_owner_then_returns_granted_fields_only(hub, departments, household, person):
    grant = _grant(hub, departments["civil"], ["name", "gender"])
    assert grant["status"] == "pending"
    assert _query(hub, departments["civil"], person.resident_id, ["name"]).status_code == 403
    civil = bearer(hub, departments["civil"])
    assert hub.client.post(f"/grants/{grant['id']}/approve", headers=civil).status_code == 403  # not the owner
    assert hub.client.get(f"/grants/{grant['id']}", headers=bearer(hub, departments["land"])).status_code == 404
    assert hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["land"])).status_code == 404
    approved = hub.client.post(f"/grants/{grant['id']}/approve", json={"reason": "依法核验"},
                               headers=bearer(hub, departments["police"]))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    response = _query(hub, departments["civil"], person.resident_id, ["name", "address", "birth_date"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["record"] == {"name": person.name}
    assert sorted(answer["withheld"]) == ["address", "birth_date"]
    assert person.resident_id not in response.text


def test_receipt_is_signed_by_the_hub_and_binds_request_and_response(hub, departments, household, person):
    grant = _grant(hub, departments["market"], ["name"])
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["police"]))
    answer = _query(hub, departments["market"], person.resident_id, ["name"]).json()
    claims = verify_receipt(answer["receipt"], root_der(hub))
    assert claims["requester"] == departments["market"]["code"] and claims["purpose"] == PURPOSE
    assert claims["response_hash"] == digest({"found": True, "record": answer["record"]})
    assert claims["request_hash"] == digest({"source": "household.residents", "subject": person.resident_id,
                                             "fields": ["name"], "purpose": PURPOSE, "detail": None, "consent": None,
                                             "requester": departments["market"]["code"]})
    assert claims["audit_leaf"] == answer["audit"]["leaf_hash"]
    tampered = answer["receipt"][:-4] + ("AAAA" if not answer["receipt"].endswith("AAAA") else "BBBB")
    with pytest.raises(Exception):
        verify_receipt(tampered, root_der(hub))


def test_revoked_and_expired_grants_stop_working_at_once(hub, departments, household, person):
    labour = departments["labour"]
    grant = _grant(hub, labour, ["name"])
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["police"]))
    assert _query(hub, labour, person.resident_id, ["name"]).status_code == 200
    revoked = hub.client.post(f"/grants/{grant['id']}/revoke", json={"reason": "业务已办结"}, headers=bearer(hub, labour))
    assert revoked.json()["status"] == "revoked"
    assert _query(hub, labour, person.resident_id, ["name"]).status_code == 403
    assert hub.client.post(f"/grants/{grant['id']}/revoke", json={"reason": "again"},
                           headers=bearer(hub, labour)).status_code == 409

    second = _grant(hub, labour, ["name"])
    hub.client.post(f"/grants/{second['id']}/approve", headers=bearer(hub, departments["police"]))
    assert _query(hub, labour, person.resident_id, ["name"]).status_code == 200
    start = hub.clock()
    hub.clock.now = start + timedelta(days=366)
    try:
        assert _query(hub, labour, person.resident_id, ["name"]).status_code == 403
        assert hub.client.get(f"/grants/{second['id']}", headers=bearer(hub, labour)).json()["status"] == "expired"
    finally:
        hub.clock.now = start


def test_a_grant_revoked_while_the_source_answers_withholds_that_answer(hub, departments, request, person):
    """The grant is cached after the first query; revoking it mid-query still stops the answer, unaudited."""
    url, app = start_misbehaving(request)
    body = household_source(url, source_id="gated.residents", path="/gate/{subject}", timeout=5.0)
    assert register(hub, departments["police"], body).status_code == 201
    labour = departments["labour"]
    grant = _grant(hub, labour, ["name"], source="gated.residents")
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["police"]))
    assert _query(hub, labour, person.resident_id, ["name"], source="gated.residents").status_code == 200

    app.state.gate.clear()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_query, hub, labour, person.resident_id, ["name"], source="gated.residents")
        deadline = time.monotonic() + 5
        while app.state.hits["gate"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.state.hits["gate"] == 2, "the second query never reached the source"
        revoked = hub.client.post(f"/grants/{grant['id']}/revoke", json={"reason": "办结"}, headers=bearer(hub, labour))
        assert revoked.status_code == 200
        before = _audit_count(hub)
        app.state.gate.set()
        answer = pending.result(timeout=10)
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"] == "urn:hub:problem:grant_required" and "张三" not in answer.text
    assert _audit_count(hub) == before  # the withheld answer left no exchange entry


def test_sensitive_fields_need_the_citizens_consent(hub, departments, household, person):
    civil = departments["civil"]
    grant = _grant(hub, civil, ["name", "ethnicity"])
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["police"]))
    refused = _query(hub, civil, person.resident_id, ["name", "ethnicity"])
    assert refused.status_code == 403 and refused.json()["type"] == "urn:hub:problem:consent_required"

    asked = hub.client.post("/consents", json={"subject": person.resident_id, "source": "household.residents",
                                               "fields": ["ethnicity"], "purpose": PURPOSE},
                            headers=bearer(hub, civil))
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    consent = asked.json()["id"]
    assert _query(hub, civil, person.resident_id, ["ethnicity"], consent=consent).status_code == 403  # pending

    other = citizens(2)[1]
    assert hub.client.post(f"/me/consents/{consent}/approve",
                           headers=citizen_headers(hub, other.resident_id)).status_code == 404
    mine = citizen_headers(hub, person.resident_id)
    listed = hub.client.get("/me/consents", headers=mine).json()
    assert [c["id"] for c in listed] == [consent] and listed[0]["requester"]["code"] == civil["code"]
    assert hub.client.post(f"/me/consents/{consent}/approve", headers=mine).json()["status"] == "approved"

    answer = _query(hub, civil, person.resident_id, ["name", "ethnicity"], consent=consent)
    assert answer.status_code == 200 and answer.json()["record"]["ethnicity"] == person.ethnicity
    assert _query(hub, civil, person.resident_id, ["ethnicity"], purpose="其他事由", consent=consent).status_code == 403
    assert _query(hub, departments["market"], person.resident_id, ["ethnicity"], consent=consent).status_code == 403
    assert hub.client.post(f"/me/consents/{consent}/revoke", headers=mine).json()["status"] == "revoked"
    assert _query(hub, civil, person.resident_id, ["ethnicity"], consent=consent).status_code == 403


def test_unconditional_sources_are_granted_at_once_and_not_shared_ones_never(hub, departments, household):
    police = bearer(hub, departments["police"])
    for source_id, sharing in (("household.open", "unconditional"), ("household.closed", "not_shared")):
        body = household_source(household, source_id=source_id, sharing=sharing)
        assert hub.client.post("/sources", json=body, headers=police).status_code == 201
    assert _grant(hub, departments["land"], ["name"], source="household.open")["status"] == "approved"
    refused = hub.client.post("/grants", json={"source": "household.closed", "fields": ["name"], "purpose": "x",
                                               "legal_basis": "y"}, headers=bearer(hub, departments["land"]))
    assert refused.status_code == 403 and refused.json()["type"] == "urn:hub:problem:source_not_shared"


def test_not_found_subject_is_an_answer_with_a_receipt(hub, departments, household):
    grant = _grant(hub, departments["land"], ["name"])
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["police"]))
    stranger = citizens(500)[-1]  # beyond the 50 people the registry holds
    response = _query(hub, departments["land"], stranger.resident_id, ["name"])
    assert response.status_code == 200 and response.json()["found"] is False and response.json()["record"] is None


@pytest.mark.parametrize("path, status, problem", [
    ("/slow/{subject}", 504, "source_timeout"), ("/garbage/{subject}", 502, "source_unavailable"),
    ("/boom/{subject}", 502, "source_unavailable")])
def test_failing_sources_give_a_clear_problem_in_time_and_write_nothing(hub, departments, request, person, path,
                                                                        status, problem):
    url, _ = start_misbehaving(request)
    source_id = "flaky." + problem.replace("_", "-") + "." + str(abs(hash(path)) % 1000)
    body = household_source(url, source_id=source_id, sharing="unconditional", path=path, timeout=1.0)
    assert register(hub, departments["police"], body).status_code == 201
    _grant(hub, departments["civil"], ["name"], source=source_id)
    before = _audit_count(hub)
    started = time.monotonic()
    response = _query(hub, departments["civil"], person.resident_id, ["name"], source=source_id)
    assert time.monotonic() - started < 2.5
    assert response.status_code == status and response.json()["type"] == f"urn:hub:problem:{problem}"
    assert _audit_count(hub) == before


@pytest.mark.parametrize("body, status", [
    ({"fields": ["name"], "purpose": PURPOSE}, 422),
    ({"subject": "110101199003070000", "fields": ["name"], "purpose": PURPOSE}, 422),
    ({"subject": "X", "fields": ["name"], "purpose": ""}, 422),
    ({"subject": "X", "fields": ["name"], "purpose": "长" * 201}, 422),
    ({"subject": "X", "fields": "name", "purpose": PURPOSE}, 422),
    ({"subject": "X", "fields": ["name"], "purpose": PURPOSE, "extra": 1}, 422),
])
def test_bad_queries_get_a_4xx_and_change_nothing(hub, departments, household, person, body, status):
    body = {k: (person.resident_id if v == "X" else v) for k, v in body.items()}
    before = _audit_count(hub)
    response = hub.client.post("/exchange/household.residents/query", json=body,
                               headers=bearer(hub, departments["civil"]))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _audit_count(hub) == before


def test_queries_need_a_department_token(hub, departments, household, person):
    body = {"subject": person.resident_id, "fields": ["name"], "purpose": PURPOSE}
    assert hub.client.post("/exchange/household.residents/query", json=body).status_code == 401
    assert hub.client.post("/exchange/household.residents/query", json=body,
                           headers=hub.operator_headers()).status_code == 403
    assert hub.client.post("/exchange/household.residents/query", json=body,
                           headers=citizen_headers(hub, person.resident_id)).status_code == 403
    assert hub.client.post("/exchange/household.residents/query", content=b"{not json",
                           headers=bearer(hub, departments["civil"]) | {"content-type": "application/json"}
                           ).status_code in (400, 422)
    assert _query(hub, departments["civil"], person.resident_id, ["name"], source="no.such").status_code == 404
    assert _query(hub, departments["civil"], person.resident_id, ["nickname"]).status_code == 422


def test_the_owner_reads_its_own_source_without_a_grant(hub, departments, household, person):
    response = _query(hub, departments["police"], person.resident_id, ["name", "ethnicity"])
    assert response.status_code == 200 and response.json()["record"]["name"] == person.name


def test_a_retried_grant_request_with_the_same_key_creates_nothing_new(hub, departments, household):
    civil = bearer(hub, departments["civil"]) | {"Idempotency-Key": "grant-retry-1"}
    body = {"source": "household.residents", "fields": ["gender"], "purpose": "重试", "legal_basis": "条例"}
    first = hub.client.post("/grants", json=body, headers=civil)
    again = hub.client.post("/grants", json=body, headers=civil)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    changed = hub.client.post("/grants", json=body | {"fields": ["name"]}, headers=civil)
    assert changed.status_code == 409 and changed.json()["type"] == "urn:hub:problem:idempotency_key_reused"


def test_a_retried_source_registration_with_the_same_key_answers_the_same_source(hub, departments, household):
    police = bearer(hub, departments["police"]) | {"Idempotency-Key": "source-retry-1"}
    body = household_source(household, source_id="household.retry")
    first = hub.client.post("/sources", json=body, headers=police)
    again = hub.client.post("/sources", json=body, headers=police)
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == "household.retry"


def _definition(hub, source_id: str, department) -> dict:
    """The source as GET shows it, turned back into a PUT body (secrets as ***)."""
    shown = hub.client.get(f"/sources/{source_id}", headers=bearer(hub, department)).json()
    keep = ("id", "name", "category", "description", "subject_key", "sharing_class", "update_frequency", "fields",
            "connector")
    return {key: shown[key] for key in keep}


def test_the_owner_changes_a_source_and_queries_follow_at_once(hub, departments, request, person):
    url = start_household(request)
    police, civil = departments["police"], departments["civil"]
    body = household_source(url, source_id="household.editable")
    assert register(hub, police, body).status_code == 201
    grant = _grant(hub, civil, ["name"], source="household.editable")
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, police))
    assert _query(hub, civil, person.resident_id, ["name"], source="household.editable").status_code == 200

    edited = _definition(hub, "household.editable", police)
    assert edited["connector"]["config"]["auth_header"]["value"] == "***"
    edited["name"], edited["connector"]["config"]["timeout"] = "户籍人口基本信息（新）", 1.5
    changed = hub.client.put("/sources/household.editable", json=edited, headers=bearer(hub, police))
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "户籍人口基本信息（新）" and changed.json()["health"]["status"] == "ok"
    assert changed.json()["connector"]["config"]["auth_header"]["value"] == "***"
    # the stored API key was kept: the source still answers
    assert _query(hub, civil, person.resident_id, ["name"], source="household.editable").status_code == 200

    edited["sharing_class"] = "not_shared"
    assert hub.client.put("/sources/household.editable", json=edited, headers=bearer(hub, police)).status_code == 200
    refused = _query(hub, civil, person.resident_id, ["name"], source="household.editable")
    assert refused.status_code == 403 and refused.json()["type"] == "urn:hub:problem:source_not_shared"

    edited["sharing_class"] = "conditional"
    nobody = f"http://127.0.0.1:{free_port()}"
    approve(hub, police, nobody)
    edited["connector"]["config"]["url"] = f"{nobody}/residents/{{subject}}"
    assert hub.client.put("/sources/household.editable", json=edited, headers=bearer(hub, police)).json()[
        "health"]["status"] == "down"
    moved = _query(hub, civil, person.resident_id, ["name"], source="household.editable")
    assert moved.status_code == 502  # the new connector, at once: nobody listens there

    with hub.app.state.services.session_factory() as session:
        kinds = session.scalars(sa.select(AuditEntry.data).where(AuditEntry.kind == "source.updated")
                                .where(AuditEntry.data.like('%household.editable%'))).all()
    changes = sorted(json.loads(data)["changed"] for data in kinds)  # one clock instant: no order among them
    assert changes == [["connector", "name"], ["connector", "sharing_class"], ["sharing_class"]]


@pytest.mark.parametrize("change, who, status", [
    (lambda d: d, "civil", 403),                                               # not the owner
    (lambda d: d | {"id": "household.other"}, "police", 422),                  # id differs from the path
    (lambda d: d | {"subject_key": "credit_code"}, "police", 422),             # subject key stays
    (lambda d: d | {"connector": {"type": "rest", "config": d["connector"]["config"] | {
        "url": "http://***@127.0.0.1:1/r/{subject}"}}}, "police", 422),        # *** in a changed URL
    (lambda d: d | {"connector": {"type": "rest", "config": {"url": "ftp://x/{subject}"}}}, "police", 422),
    (lambda d: d | {"fields": []}, "police", 422),
])
def test_bad_source_changes_are_refused_and_change_nothing(hub, departments, household, change, who, status):
    before = _definition(hub, "household.residents", departments["police"])
    response = hub.client.put("/sources/household.residents", json=change(copy.deepcopy(before)),
                              headers=bearer(hub, departments[who]))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert _definition(hub, "household.residents", departments["police"]) == before


def test_changing_an_unknown_source_is_404(hub, departments, household):
    body = _definition(hub, "household.residents", departments["police"]) | {"id": "nothing.here"}
    response = hub.client.put("/sources/nothing.here", json=body, headers=bearer(hub, departments["police"]))
    assert response.status_code == 404
