"""Issue from source: the no-wage-arrears proof takes its data from the social-security source, through the exchange."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from demo_systems.population import companies
from demo_systems.social_security import build_database
from hub.audit.tables import AuditEntry
from tests.conftest import bearer
from tests.exchange_helpers import register

NO_ARREARS = "11100000MB900004XD001"
BUSINESS = "11100000000013338W001"


@pytest.fixture(scope="module")
def employers(hub, departments) -> list:
    """The social-security employers source, on a real SQLite database, registered by the labour department."""
    directory = hub.settings.resolved_sqlite_sources_dir()
    directory.mkdir(parents=True, exist_ok=True)
    url = build_database(directory / "social_security.db", people_n=200)
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
    with hub.app.state.session_factory() as session:
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
    ({"data": {"employees": 3}}, "validation_error"),
    ({"type": BUSINESS}, "validation_error"),
])
def test_bad_from_source_requests_are_refused(hub, departments, employers, extra, problem):
    response = _issue(hub, departments["labour"], employers[1], **extra)
    assert response.status_code == 422 and response.json()["type"] == f"urn:hub:problem:{problem}"


def test_an_unknown_holder_is_refused(hub, departments, employers):
    from hub.core.ids import make_credit_code

    stranger = type(employers[0])(credit_code=make_credit_code(99_999_000, region="990100"), name="查无此企业有限公司",
                                  address="", employees=0)
    response = _issue(hub, departments["labour"], stranger)
    assert response.status_code == 422 and "no record" in response.json()["detail"]
