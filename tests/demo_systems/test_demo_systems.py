"""The demo department systems: population, 户籍 REST service, 社保 database, 婚姻登记 CSV, source definitions."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from demo_systems.marriage_file import COLUMNS, STATUSES, bad_row_lines, write_marriage_csv
from demo_systems.household import DEFAULT_API_KEY, FIELDS, create_app
from demo_systems.population import companies, people
from demo_systems.social_security import ACTIVE, ENDED, SUSPENDED, build_database
from hub.core.national_ids import is_valid_resident_id
from hub.core.settings import Settings
from hub.demo.data import MARRIAGE, company, demo_licenses, person
from hub.demo.sources import _placed
from hub.catalogue.sources import load_definitions
from license_verifier.identifiers import is_valid_credit_code
from tests.conftest import DEMO_DEPARTMENTS, ROOT, scratch_database
from tests.support.servers import ServerThread, free_port

SOURCES = ROOT / "schemas" / "sources"
KEY = "test-household-key"


def definition(source_id: str) -> dict:
    found = [d for d in map(_load, SOURCES.glob("*.yaml")) if d["id"] == source_id]
    assert len(found) == 1, source_id
    return found[0]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- population ------------------------------------------------------------------------------------------------


def test_first_twelve_people_are_the_hub_demo_citizens():
    first = list(people(12))
    assert [(p.resident_id, p.name) for p in first] == [(person(i).id, person(i).name) for i in range(12)]
    assert [p.gender for p in first] == ["男", "女"] * 6


def test_companies_start_with_the_hub_demo_enterprises_and_have_valid_unique_codes():
    found = companies()
    assert [(c.credit_code, c.name) for c in found[:5]] == [(company(i).id, company(i).name) for i in range(5)]
    assert len(found) >= 50
    assert all(is_valid_credit_code(c.credit_code) for c in found)
    assert len({c.credit_code for c in found}) == len({c.name for c in found}) == len(found)


def test_generated_people_have_valid_unique_ids_consistent_with_their_records():
    population = list(people(100_000))
    assert len({p.resident_id for p in population}) == 100_000
    for p in population:
        assert is_valid_resident_id(p.resident_id, today=date(2026, 1, 1)), p
        assert p.resident_id[6:14] == f"{p.birth_date:%Y%m%d}"
        assert p.gender == ("男" if int(p.resident_id[16]) % 2 else "女"), p
        assert p.birth_date <= p.registered_on < date(2026, 1, 1), p
        assert p.address.startswith("示例市") and 2 <= len(p.name) <= 4
    heads = {p.resident_id: p for p in population if p.relation_to_head == "户主"}
    assert all(p.household_head == p.name for p in heads.values())
    assert {p.relation_to_head for p in population} >= {"户主", "配偶", "子", "女"}
    assert 0.9 < sum(p.ethnicity == "汉族" for p in population) / len(population) < 0.99


def test_population_is_deterministic_and_follows_the_seed():
    assert list(people(300)) == list(people(300))
    other = list(people(300, seed=7))
    assert other[:12] == list(people(12))
    assert [p.resident_id for p in other[12:]] != [p.resident_id for p in list(people(300))[12:]]


def test_a_large_population_has_no_repeated_resident_id():
    ids = {p.resident_id for p in people(300_000)}
    assert len(ids) == 300_000


# --- household registry (REST) -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def household() -> str:
    with ServerThread(create_app(n=500, api_key=KEY)) as url:
        yield url


def test_household_returns_only_the_requested_fields(household):
    response = httpx.get(f"{household}/residents/{person(0).id}", params={"fields": "name,gender"},
                         headers={"X-Api-Key": KEY})
    assert response.status_code == 200
    assert response.json() == {"name": "林建华", "gender": "男"}


def test_household_returns_the_full_record_without_a_field_list(household):
    resident = list(people(400))[-1]
    response = httpx.get(f"{household}/residents/{resident.resident_id}", headers={"X-Api-Key": KEY})
    assert response.status_code == 200
    assert response.json() == resident.record()
    assert list(response.json()) == list(FIELDS)


def test_household_answers_404_for_a_resident_it_does_not_hold(household):
    outside = list(people(600))[-1].resident_id  # a valid id, beyond the 500 records served
    response = httpx.get(f"{household}/residents/{outside}", headers={"X-Api-Key": KEY})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": KEY + "x"}, {"X-Api-Key": b"\xe9"}])
def test_household_refuses_requests_without_the_right_api_key(household, headers):
    for resident_id in (person(0).id, "unknown"):
        response = httpx.get(f"{household}/residents/{resident_id}", headers=headers)
        assert response.status_code == 401
        assert response.json()["status"] == 401


def test_household_rejects_unknown_fields(household):
    response = httpx.get(f"{household}/residents/{person(0).id}", params={"fields": "name,salary"},
                         headers={"X-Api-Key": KEY})
    assert response.status_code == 400
    assert "salary" in response.json()["detail"]


def test_household_health_counts_its_records_and_names_the_service(household):
    assert httpx.get(f"{household}/health").json() == {"status": "ok", "service": "demo-household", "records": 500}


def test_household_health_echoes_the_instance_it_was_started_with():
    with ServerThread(create_app(n=5, instance="a1b2")) as url:
        assert httpx.get(f"{url}/health").json()["instance"] == "a1b2"


def test_household_cli_serves_on_loopback_with_the_given_key():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "demo_systems.household", "--port", str(port),
                                "--records", "50", "--api-key", "cli-key"], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "household CLI did not start"
                time.sleep(0.2)
        assert health.json() == {"status": "ok", "service": "demo-household", "records": 50}
        answer = httpx.get(f"http://127.0.0.1:{port}/residents/{person(1).id}", headers={"X-Api-Key": "cli-key"})
        assert answer.json()["name"] == "陈美玲"
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- social security (SQL) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def social_security(request, tmp_path_factory) -> sa.Engine:
    if request.param == "sqlite":
        url = build_database(tmp_path_factory.mktemp("social") / "social_security.db", people_n=3000)
    else:
        url = build_database(scratch_database(request, "demo_social"), people_n=3000)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()



def run_source_query(engine: sa.Engine, source_id: str, subject: str) -> dict | None:
    """Run a source definition's own query, as the SQL connector does."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(definition(source_id)["connector"]["config"]["query"]),
                           {"subject": subject}).mappings().first()
    return None if row is None else {k: str(v) if isinstance(v, date) else v for k, v in row.items()}


def test_social_security_answers_for_every_demo_citizen(social_security):
    declared = [f["name"] for f in definition("social_security.insured")["fields"]]
    for i in range(12):
        row = run_source_query(social_security, "social_security.insured", person(i).id)
        assert list(row) == declared
        assert row["name"] == person(i).name and row["insured_status"] == ACTIVE
        assert (row["employer_code"], row["employer_name"]) == (company(i % 5).id, company(i % 5).name)
        assert row["last_paid_month"] == "2026-10" and row["months_paid"] >= 1 and float(row["monthly_base"]) > 0
    assert run_source_query(social_security, "social_security.insured", "110105199001010011") is None


def test_demo_companies_have_no_wage_arrears_over_the_demo_license_period(social_security):
    declared = [f["name"] for f in definition("social_security.employers")["fields"]]
    for i in range(3):
        row = run_source_query(social_security, "social_security.employers", company(i).id)
        assert list(row) == declared
        assert (row["name"], row["wage_arrears"]) == (company(i).name, 0)
        assert (row["period_start"], row["period_end"]) == ("2026-01-01", "2026-10-31")
        assert row["insured_employees"] >= 1


def test_exactly_one_generated_enterprise_has_wage_arrears(social_security):
    with social_security.connect() as conn:
        owing = conn.scalars(sa.text("SELECT credit_code FROM employers WHERE wage_arrears = 1")).all()
        total = conn.scalar(sa.text("SELECT count(*) FROM employers"))
    assert owing == [companies()[5].credit_code]
    assert total == len(companies())


def test_insured_persons_are_adults_of_the_population_with_consistent_counts(social_security):
    population = {p.resident_id: p for p in people(3000)}
    with social_security.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM insured_persons")).mappings().all()
        counted = dict(conn.execute(sa.text("SELECT credit_code, insured_employees FROM employers")).all())
    assert 0.5 * len(population) < len(rows) < len(population)
    active = {}
    for row in rows:
        assert row["resident_id"] in population and row["name"] == population[row["resident_id"]].name
        assert row["insured_status"] in (ACTIVE, SUSPENDED, ENDED)
        assert re.fullmatch(r"\d{4}-\d{2}", row["last_paid_month"]) and row["months_paid"] >= 1
        if row["insured_status"] == ACTIVE and row["employer_code"]:
            active[row["employer_code"]] = active.get(row["employer_code"], 0) + 1
    assert {code: n for code, n in counted.items() if n} == active


def test_rebuilding_replaces_the_tables(social_security):
    with social_security.begin() as conn:
        conn.execute(sa.text("DELETE FROM employers WHERE wage_arrears = 0"))
    build_database(social_security.url.render_as_string(hide_password=False), people_n=3000)
    with social_security.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM employers")) == len(companies())


def test_social_security_cli_builds_a_sqlite_file(tmp_path):
    target = tmp_path / "nested" / "social.db"
    done = subprocess.run([sys.executable, "-m", "demo_systems.social_security", str(target), "--people", "200"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM insured_persons")) > 100
    engine.dispose()


# --- marriage records (bulk CSV) ---------------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_marriage_csv_holds_100k_valid_rows(tmp_path):
    assert write_marriage_csv(tmp_path / "marriage.csv") == 100_000
    lines = read_csv(tmp_path / "marriage.csv")
    assert lines[0] == list(COLUMNS) and len(lines) == 100_001
    names = {p.resident_id: p.name for p in people(5000)}
    for row in lines[1:]:
        assert len(row) == 6 and is_valid_resident_id(row[0]) and row[2] in STATUSES, row
        assert date.fromisoformat(row[3]) < date(2026, 1, 1)
        assert (row[5] == "") == (row[2] == "未婚"), row
        assert names.get(row[0], row[1]) == row[1]
    assert len({row[0] for row in lines[1:]}) == 100_000
    assert {row[2] for row in lines[1:]} == set(STATUSES)


def test_marriage_csv_bad_rows_sit_exactly_at_the_reported_lines(tmp_path):
    path = tmp_path / "bad.csv"
    assert write_marriage_csv(path, rows=2000, bad_rows=5) == 2005
    reported = bad_row_lines(2000, 5)
    bad = {number: row for number, row in enumerate(read_csv(path), start=1)
           if number > 1 and (len(row) != len(COLUMNS) or not is_valid_resident_id(row[0]))}
    assert sorted(bad) == reported and len(reported) == 5
    assert {len(row) for row in bad.values()} == {5, 6}  # both kinds: missing column, bad check character


def test_demo_couples_are_married_as_on_the_hub_demo_certificates(tmp_path):
    write_marriage_csv(tmp_path / "m.csv", rows=100)
    rows = {row[0]: row for row in read_csv(tmp_path / "m.csv")[1:]}
    certificates = [request for _, request in demo_licenses() if request.type == MARRIAGE]
    assert len(certificates) == 4
    for request in certificates:
        _, name, status, registered_on, office, spouse = rows[request.holder.id]
        assert (name, status, spouse) == (request.holder.name, "已婚", request.data["spouse_name"])
        assert (registered_on, office) == (request.data["registered_on"], request.data["registry_office"])
        assert rows[request.data["spouse_id"]][5] == request.holder.name


def test_marriage_file_cli_reports_its_bad_lines(tmp_path):
    done = subprocess.run([sys.executable, "-m", "demo_systems.marriage_file", str(tmp_path / "m.csv"), "--rows", "300",
                           "--bad-rows", "2"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(bad_row_lines(300, 2)) in done.stdout
    assert len(read_csv(tmp_path / "m.csv")) == 303


# --- source definitions ------------------------------------------------------------------------------------------

REQUIRED = {"id", "name", "category", "owner", "subject_key", "sharing_class", "update_frequency", "description",
            "fields", "connector"}


def test_every_source_definition_parses_with_the_required_keys():
    definitions = [_load(path) for path in sorted(SOURCES.glob("*.yaml"))]
    owners = {code for code, _ in DEMO_DEPARTMENTS.values()}
    assert {d["id"] for d in definitions} == {"household.residents", "social_security.insured",
                                              "social_security.employers", "civil.marriage"}
    for d in definitions:
        assert set(d) == REQUIRED, d["id"]
        assert re.fullmatch(r"[a-z0-9_.-]{1,64}", d["id"]) and d["owner"] in owners
        assert is_valid_credit_code(d["owner"])
        assert d["subject_key"] in ("resident_id", "credit_code")
        assert d["sharing_class"] in ("unconditional", "conditional", "not_shared")
        assert d["update_frequency"] in ("realtime", "daily", "weekly", "monthly")
        assert d["connector"]["type"] in ("rest", "sql", "bulk") and isinstance(d["connector"]["config"], dict)
        names = [f["name"] for f in d["fields"]]
        assert len(names) == len(set(names)) and names
        for field in d["fields"]:
            assert set(field) == {"name", "type", "label", "sensitivity"}, field
            assert field["type"] in ("string", "integer", "number", "date", "boolean")
            assert field["sensitivity"] in ("public", "internal", "personal", "sensitive_personal")


def test_rest_and_bulk_definitions_match_the_demo_systems():
    household = definition("household.residents")
    assert {f["name"] for f in household["fields"]} <= set(FIELDS)
    assert household["connector"]["config"]["url"] == "http://127.0.0.1:{demo_household_port}/residents/{subject}"
    assert household["connector"]["config"]["auth_header"] == {"name": "X-Api-Key", "value": DEFAULT_API_KEY}
    marriage = definition("civil.marriage")
    assert {f["name"] for f in marriage["fields"]} <= set(COLUMNS)
    assert marriage["connector"]["config"] == {"format": "csv", "subject_field": "resident_id"}


def test_demo_source_urls_follow_the_settings(tmp_path):
    settings = Settings(var_dir=tmp_path / "var", demo_household_port=9317)
    placed = {d.id: _placed(d, settings).connector.config for d in load_definitions(SOURCES)}
    assert placed["household.residents"]["url"] == "http://127.0.0.1:9317/residents/{subject}"
    social = (tmp_path / "var" / "sqlite-sources" / "social_security.db").resolve()
    assert placed["social_security.insured"]["url"] == f"sqlite:///{social}"
    assert "url" not in placed["civil.marriage"]
