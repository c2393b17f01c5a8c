"""Bulk import (归集) through the API and the CLI: bad rows reported by line, the rest queryable through the exchange."""

from __future__ import annotations

import csv
import os

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors.store import shared_records
from demo_systems.marriage_file import bad_row_lines, write_marriage_csv
from hub.cli import app as cli
from tests.conftest import bearer

MARRIAGE = {
    "id": "civil.marriage", "name": "婚姻登记信息", "category": "人口信息", "subject_key": "resident_id",
    "sharing_class": "conditional",
    "fields": [{"name": n, "type": t, "label": n, "sensitivity": "personal"} for n, t in (
        ("name", "string"), ("marital_status", "string"), ("registered_on", "date"), ("registry_office", "string"),
        ("spouse_name", "string"))],
    "connector": {"type": "bulk", "config": {"format": "csv", "subject_field": "resident_id"}},
}
CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def marriage(hub, departments, tmp_path_factory):
    response = hub.client.post("/sources", json=MARRIAGE, headers=bearer(hub, departments["civil"]))
    assert response.status_code == 201, response.text
    path = tmp_path_factory.mktemp("bulk") / "marriage.csv"
    write_marriage_csv(path, rows=3000, bad_rows=4)
    return path


def _stored(hub) -> int:
    with hub.app.state.services.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(shared_records)
                           .where(shared_records.c.source_id == "civil.marriage"))


def test_upload_imports_good_rows_and_names_the_bad_lines(hub, departments, marriage):
    response = hub.client.post("/sources/civil.marriage/import", content=marriage.read_bytes(),
                               headers=bearer(hub, departments["civil"]) | CSV)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total"], report["imported"], report["failed"]) == (3004, 3000, 4)
    assert [e["line"] for e in report["errors"]] == bad_row_lines(3000, 4)
    assert _stored(hub) == 3000


def test_imported_records_answer_exchange_queries(hub, departments, marriage):
    with marriage.open(encoding="utf-8", newline="") as handle:
        row = next(r for r in list(csv.reader(handle))[1:] if r[2] == "已婚")
    land = departments["land"]
    grant = hub.client.post("/grants", json={"source": "civil.marriage", "fields": ["marital_status"],
                                             "purpose": "不动产登记核验婚姻状况", "legal_basis": "细则第十一条"},
                            headers=bearer(hub, land)).json()
    hub.client.post(f"/grants/{grant['id']}/approve", headers=bearer(hub, departments["civil"]))
    answer = hub.client.post("/exchange/civil.marriage/query", headers=bearer(hub, land), json={
        "subject": row[0], "fields": ["marital_status", "name"], "purpose": "不动产登记核验婚姻状况"}).json()
    assert answer["record"] == {"marital_status": "已婚"} and answer["withheld"] == ["name"]


def test_reimport_upserts_instead_of_duplicating(hub, departments, marriage):
    response = hub.client.post("/sources/civil.marriage/import", content=marriage.read_bytes(),
                               headers=bearer(hub, departments["civil"]) | CSV)
    assert response.json()["imported"] == 3000 and _stored(hub) == 3000


@pytest.mark.parametrize("who, body, headers, status", [
    ("land", b"resident_id,name\n", CSV, 403),
    ("civil", b"resident_id,name\n", {"content-type": "application/pdf"}, 415),
    ("civil", b"\x00\x01\x02garbage", CSV, 422),
    ("civil", b"name,marital_status\nx,y\n", CSV, 422),
])
def test_bad_imports_are_refused_and_write_nothing(hub, departments, marriage, who, body, headers, status):
    before = _stored(hub)
    response = hub.client.post("/sources/civil.marriage/import", content=body,
                               headers=bearer(hub, departments[who]) | headers)
    assert response.status_code == status, response.text
    assert _stored(hub) == before


def test_imports_only_into_bulk_sources_and_known_ones(hub, departments, marriage):
    civil = bearer(hub, departments["civil"]) | CSV
    assert hub.client.post("/sources/no.such/import", content=b"a\n", headers=civil).status_code == 404


def test_cli_import_shows_bad_lines_and_counts(hub, departments, marriage):
    settings = hub.settings
    env = {"HUB_DATABASE_URL": settings.resolved_database_url(), "HUB_VAR_DIR": str(settings.var_dir),
           "HUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value()}
    result = CliRunner().invoke(cli, ["import-source", "civil.marriage", str(marriage)], env=dict(os.environ) | env)
    assert result.exit_code == 1, result.output  # exit 1: some rows were bad
    assert f"line {bad_row_lines(3000, 4)[0]}" in result.output
    assert "3,000 records imported" in result.output


def _refuse_subject(hub, subject: str) -> list[str]:
    """Make the database refuse one subject's row behind the hub's back; return the statements that undo it."""
    if hub.backend.startswith("postgresql"):
        create = [f"""CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN
                        IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                        RETURN NEW; END $$ LANGUAGE plpgsql""",
                  "CREATE TRIGGER refuse_one BEFORE INSERT ON shared_records FOR EACH ROW EXECUTE FUNCTION refuse_one()"]
        undo = ["DROP TRIGGER refuse_one ON shared_records", "DROP FUNCTION refuse_one()"]
    else:
        create = [f"""CREATE TRIGGER refuse_one BEFORE INSERT ON shared_records WHEN NEW.subject = '{subject}'
                      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""]
        undo = ["DROP TRIGGER refuse_one"]
    with hub.app.state.services.engine.begin() as conn:
        for statement in create:
            conn.exec_driver_sql(statement)
    return undo


def test_a_database_that_refuses_mid_import_is_a_503_naming_what_was_kept(hub, departments, tmp_path):
    source = MARRIAGE | {"id": "civil.marriage-refusing"}
    civil = bearer(hub, departments["civil"])
    assert hub.client.post("/sources", json=source, headers=civil).status_code == 201
    path = tmp_path / "big.csv"
    write_marriage_csv(path, rows=25_000)
    with path.open(encoding="utf-8", newline="") as handle:
        refused = list(csv.reader(handle))[15_001][0]  # in the second batch of 10,000
    undo = _refuse_subject(hub, refused)
    try:
        response = hub.client.post(f"/sources/{source['id']}/import", content=path.read_bytes(), headers=civil | CSV)
    finally:
        with hub.app.state.services.engine.begin() as conn:
            for statement in undo:
                conn.exec_driver_sql(statement)
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["type"] == "urn:hub:problem:import_interrupted" and problem["imported"] == 10_000
    assert "again is safe" in problem["detail"]
    with hub.app.state.services.engine.connect() as conn:
        kept = conn.scalar(sa.select(sa.func.count()).select_from(shared_records)
                           .where(shared_records.c.source_id == source["id"]))
        logged = conn.execute(sa.text("SELECT data FROM audit_entries WHERE kind = 'source.import' "
                                      "AND data LIKE '%civil.marriage-refusing%'")).scalars().all()
    assert kept == 10_000
    assert len(logged) == 1 and '"interrupted":true' in logged[0] and '"imported":10000' in logged[0]

    again = hub.client.post(f"/sources/{source['id']}/import", content=path.read_bytes(), headers=civil | CSV)
    assert again.status_code == 200 and again.json()["imported"] == 25_000
