"""Issue from source: the no-wage-arrears proof takes its data from the social-security source, through the exchange,
and only so: the caller's own data for it is refused on every path (POST /licenses, batches, re-issue)."""

from __future__ import annotations

import time

import orjson
import pytest
import sqlalchemy as sa

from demo_systems.population import companies
from demo_systems.social_security import build_database
from hub.audit.tables import AuditEntry
from hub.licenses.tables import License
from tests.conftest import bearer
from tests.support.exchange_helpers import register

NO_ARREARS = "11100000MB900004XD001"
BUSINESS = "11100000000013338W001"


@pytest.fixture(scope="module")
def social_db(hub, tmp_path_factory) -> str:
    """The social-security database (SQLite) of one hub, built by the demo system's own code, where the hub's
    SQLite sources live."""
    directory = hub.settings.resolved_sqlite_sources_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return build_database(directory / "social_security.db", people_n=200)


@pytest.fixture(scope="module")
def employers(hub, departments, social_db) -> list:
    """The social-security employers source, on a real SQLite database, registered by the labour department."""
    url = social_db
    body = {"id": "social_security.employers", "name": "用人单位参保及欠薪信息", "category": "法人信息",
            "subject_key": "credit_code", "sharing_class": "unconditional",
            "fields": [{"name": n, "type": t, "label": n, "sensitivity": "public"} for n, t in (
                ("name", "string"), ("insured_employees", "integer"), ("wage_arrears", "boolean"),
                ("period_start", "date"), ("period_end", "date"))],
            "connector": {"type": "sql", "config": {"url": url, "query": (
                "SELECT name, insured_employees, wage_arrears, period_start, period_end FROM employers "
                "WHERE credit_code = :subject")}}}
    response = register(hub, departments["labour"], body)
    assert response.status_code == 201, response.text
    return companies()


def _issue(hub, department, company, **extra):
    body = {"type": NO_ARREARS, "holder": {"id_type": "credit_code", "id": company.credit_code, "name": company.name},
            "from_source": True} | extra
    return hub.client.post("/licenses", json=body, headers=bearer(hub, department))


def _queries(hub) -> int:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.kind == "exchange.query"))


def test_license_data_comes_from_the_source_and_the_query_is_audited(hub, departments, employers):
    before = _queries(hub)
    response = _issue(hub, departments["labour"], employers[0])
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["period_start"] == "2026-01-01" and data["period_end"] == "2026-10-31"
    assert isinstance(data["employees"], int) and data["employees"] > 0
    assert _queries(hub) == before + 1


def test_an_employer_with_wage_arrears_gets_no_proof(hub, departments, employers):
    arrears = employers[5]  # the one generated enterprise the source shows with arrears
    response = _issue(hub, departments["labour"], arrears)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:hub:problem:source_refuses_issuance"


@pytest.mark.parametrize("extra, problem", [
    ({"data": {"employees": 3}}, "issued_from_source_only"),
    ({"type": BUSINESS}, "validation_error"),
])
def test_bad_from_source_requests_are_refused(hub, departments, employers, extra, problem):
    response = _issue(hub, departments["labour"], employers[1], **extra)
    assert response.status_code == 422 and response.json()["type"] == f"urn:hub:problem:{problem}"


def test_an_unknown_holder_is_refused(hub, departments, employers):
    from hub.core.national_ids import make_credit_code

    stranger = type(employers[0])(credit_code=make_credit_code(99_999_000, region="990100"), name="查无此企业有限公司",
                                  address="", employees=0)
    response = _issue(hub, departments["labour"], stranger)
    assert response.status_code == 422 and "no record" in response.json()["detail"]


# --- the source cannot be skipped -------------------------------------------------------------------------

OWN_DATA = {"period_start": "2026-01-01", "period_end": "2026-10-31", "employees": 40}


def _written(hub) -> tuple[int, int, int]:
    """Licenses, audit entries and licenses' stored objects: what a refused issuance must leave as it was."""
    with hub.app.state.services.session_factory() as session:
        licenses = session.scalar(sa.select(sa.func.count()).select_from(License))
        entries = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    return licenses, entries, len(hub.app.state.services.store.list("licenses/"))


def _holder(company) -> dict:
    return {"id_type": "credit_code", "id": company.credit_code, "name": company.name}


@pytest.mark.parametrize("extra", [
    {"data": OWN_DATA},
    {"data": OWN_DATA, "from_source": False},
    {"from_source": False},
    {"data": OWN_DATA, "from_source": True},
])
def test_the_callers_own_data_for_a_source_bound_type_is_refused_and_writes_nothing(hub, departments, employers,
                                                                                    extra):
    arrears = employers[5]  # the source refuses it; the department's own data must not get it issued either
    before = _written(hub)
    body = {"type": NO_ARREARS, "holder": _holder(arrears)} | extra
    response = hub.client.post("/licenses", json=body, headers=bearer(hub, departments["labour"]))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:hub:problem:issued_from_source_only"
    assert response.json()["source"] == "social_security.employers"
    assert _written(hub) == before


def test_batch_rows_of_a_source_bound_type_are_refused_and_write_nothing(hub, departments, employers):
    labour = departments["labour"]
    rows = [{"key": f"arrears-{hub.backend}-{n}", "type": NO_ARREARS, "holder": _holder(employers[5]), "data": OWN_DATA}
            | extra for n, extra in enumerate(({}, {"from_source": True}))]
    body = b"\n".join(orjson.dumps(row) for row in rows) + b"\n"
    licenses, _, objects = _written(hub)
    entries = _license_and_exchange_entries(hub)
    submitted = hub.client.post("/licenses/batch", content=body,
                                headers=bearer(hub, labour) | {"Content-Type": "application/x-ndjson"})
    assert submitted.status_code == 202, submitted.text
    job = _finished(hub, labour, submitted.json()["id"])
    assert (job["status"], job["issued"], job["failed"]) == ("completed", 0, 2)
    assert [e["code"] for e in job["errors"]] == ["issued_from_source_only"] * 2
    after = _written(hub)
    assert (after[0], after[2]) == (licenses, objects)  # the batch's own entries (job, rows) are not licenses'
    assert _license_and_exchange_entries(hub) == entries


def _license_and_exchange_entries(hub) -> int:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.kind.like("license.%") | AuditEntry.kind.like("exchange.%")))


def _finished(hub, department, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = hub.client.get(f"/jobs/{job_id}", headers=bearer(hub, department)).json()
        if job["status"] in ("completed", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_a_reissue_reads_the_source_again_and_takes_no_data(hub, departments, employers, social_db):
    labour, employer = bearer(hub, departments["labour"]), employers[3]
    issued = _issue(hub, departments["labour"], employer)
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["id"]

    before = _written(hub)
    with_data = hub.client.post(f"/licenses/{identifier}/reissue", json={"reason": "人数变更",
                                                                         "data": {"employees": 999}}, headers=labour)
    assert with_data.status_code == 422 and with_data.json()["type"] == "urn:hub:problem:issued_from_source_only"
    assert _written(hub) == before

    queries = _queries(hub)
    again = hub.client.post(f"/licenses/{identifier}/reissue", json={"reason": "到期换发"}, headers=labour)
    assert again.status_code == 201, again.text
    assert again.json()["version"] == 2 and again.json()["data"] == issued.json()["data"]
    assert _queries(hub) == queries + 1

    engine = sa.create_engine(social_db)  # the employer now owes wages: no new version, the current one stays
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE employers SET wage_arrears = 1 WHERE credit_code = :code"),
                     {"code": employer.credit_code})
    engine.dispose()
    current = again.json()["id"]
    refused = hub.client.post(f"/licenses/{current}/reissue", json={"reason": "到期换发"}, headers=labour)
    assert refused.status_code == 422 and refused.json()["type"] == "urn:hub:problem:source_refuses_issuance"
    shown = hub.client.get(f"/licenses/{current}", headers=labour).json()
    assert (shown["status"], shown["version"], shown["superseded_by"]) == ("active", 2, None)


def test_the_source_path_still_issues_without_arrears_and_refuses_arrears(hub, departments, employers):
    assert _issue(hub, departments["labour"], employers[2]).status_code == 201
    before = _written(hub)
    refused = _issue(hub, departments["labour"], employers[5])
    assert refused.status_code == 422 and refused.json()["type"] == "urn:hub:problem:source_refuses_issuance"
    assert _written(hub)[0] == before[0]
