"""Uploads are judged by what they expand to: every bomb of tests/support/upload_bombs.py is a 413 or 422 problem naming
its cap, through POST /sources/{id}/import and `hub import-source`, on both backends, and nothing is written.
The legitimate path keeps working, and text that starts like a spreadsheet formula is refused by row.
"""

from __future__ import annotations

import json
import os
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors import FieldSpec, import_file
from connectors.base import ImportTooLarge
from connectors.limits import Limits
from connectors.store import shared_records
from demo_systems.marriage_file import write_marriage_csv
from hub.cli import app as cli
from tests.conftest import bearer
from tests.support.upload_bombs import A, CATALOGUE, build, inline, resident_ids, shared, sheet_xml, strings_xml, write_xlsx

SOURCE = {
    "id": "civil.limits", "name": "婚姻登记信息（上限）", "category": "人口信息", "subject_key": "resident_id",
    "sharing_class": "conditional",
    "fields": [{"name": "name", "type": "string", "label": "姓名", "sensitivity": "personal"}],
    "connector": {"type": "bulk", "config": {"format": "csv", "subject_field": "resident_id"}},
}
DATED = SOURCE | {"id": "civil.limits-dated", "fields": [
    {"name": n, "type": t, "label": n, "sensitivity": "personal"} for n, t in (
        ("name", "string"), ("marital_status", "string"), ("registered_on", "date"))]}
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.fixture(scope="module")
def civil(hub, departments):
    headers = bearer(hub, departments["civil"])
    for source in (SOURCE, DATED):
        response = hub.client.post("/sources", json=source, headers=headers)
        assert response.status_code == 201, response.text
    return headers


def upload(hub, headers, body: bytes, fmt: str, source: str = SOURCE["id"]):
    return hub.client.post(f"/sources/{source}/import", content=body, headers=headers | {"content-type": MEDIA[fmt]})


def stored(hub, source: str = SOURCE["id"]) -> dict[str, dict]:
    with hub.app.state.services.engine.connect() as conn:
        rows = conn.execute(sa.select(shared_records.c.subject, shared_records.c.data)
                            .where(shared_records.c.source_id == source)).all()
    return {subject: data if isinstance(data, dict) else json.loads(data) for subject, data in rows}


def audited_imports(hub) -> int:
    with hub.app.state.services.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM audit_entries WHERE kind = 'source.import'"))


@pytest.mark.parametrize("bomb", CATALOGUE, ids=[b.name for b in CATALOGUE])
def test_a_bomb_is_a_problem_naming_its_limit_and_writes_nothing(hub, civil, bomb):
    before, audits = stored(hub), audited_imports(hub)
    response = upload(hub, civil, build(bomb).read_bytes(), bomb.suffix)
    assert response.status_code == bomb.status, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == f"urn:hub:problem:{bomb.code}"
    if bomb.status == 413:
        assert problem["limit"] == bomb.says and problem["maximum"] > 0
        assert f"{problem['maximum']:,}" in problem["detail"]
    else:
        assert bomb.says in problem["detail"]
    assert stored(hub) == before and audited_imports(hub) == audits


def test_a_file_refused_past_its_first_batches_writes_nothing(hub, civil, tmp_path):
    path = tmp_path / "late.csv"
    write_marriage_csv(path, rows=25_000)  # batches of 10,000: two would have been committed before line 25,002
    with path.open("ab") as out:
        out.write(A.encode() + b"," + b"x" * (2 << 20) + b",x,x,x,x\n")
    before = stored(hub, DATED["id"])
    response = upload(hub, civil, path.read_bytes(), "csv", DATED["id"])
    assert response.status_code == 413 and response.json()["limit"] == "line_bytes", response.text
    assert "line 25,002" in response.json()["detail"]
    assert stored(hub, DATED["id"]) == before


def test_a_workbook_refused_past_its_first_batches_writes_nothing(hub, civil, tmp_path):
    rows = [[inline(subject), inline("张三")] for subject in resident_ids(20_000)]
    path = write_xlsx(tmp_path / "late.xlsx", sheet_xml([[inline("resident_id"), inline("name")], *rows,
                                                         [inline(A), inline("名" * 40_000)]]))
    before = stored(hub)
    response = upload(hub, civil, path.read_bytes(), "xlsx")
    assert response.status_code == 413 and response.json()["limit"] == "cell_chars", response.text
    assert "B20002" in response.json()["detail"]
    assert stored(hub) == before


def test_a_normal_10000_row_workbook_still_imports(hub, civil, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["resident_id", "name", "marital_status", "registered_on", "note"])
    subjects = resident_ids(10_000)
    for i, subject in enumerate(subjects):
        sheet.append([subject, f"张{i % 977}", "已婚" if i % 2 else "未婚", date(2000 + i % 20, 1 + i % 12, 1), "x"])
    book.save(tmp_path / "normal.xlsx")
    response = upload(hub, civil, (tmp_path / "normal.xlsx").read_bytes(), "xlsx", DATED["id"])
    assert response.status_code == 200, response.text
    assert (response.json()["imported"], response.json()["failed"]) == (10_000, 0)
    records = stored(hub, DATED["id"])
    assert records[subjects[7]] == {"name": "张7", "marital_status": "已婚", "registered_on": "2007-08-01"}


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"点击\")", "@SUM(A1:A9)", "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
HARMLESS = ["-", "+86 10 6512 3456", "-12.5", "张三", "a=b"]


def test_text_that_starts_like_a_formula_is_refused_by_row(hub, civil, tmp_path):
    subjects = resident_ids(len(FORMULAS) + len(HARMLESS) + 1)
    rows = [[inline(s), inline(text)] for s, text in zip(subjects, FORMULAS + HARMLESS)]
    cached = f'<c r="B{len(rows) + 2}"><f>1+1</f><v>2</v></c>'  # a formula cell: its cached value is imported
    rows.append([inline(subjects[-1]), cached])
    path = write_xlsx(tmp_path / "formulas.xlsx", sheet_xml([[inline("resident_id"), inline("name")], *rows]))
    response = upload(hub, civil, path.read_bytes(), "xlsx")
    assert response.status_code == 200, response.text
    report = response.json()
    assert [e["line"] for e in report["errors"]] == list(range(2, 2 + len(FORMULAS)))
    assert all("spreadsheet formula" in e["message"] for e in report["errors"])
    records = stored(hub)
    assert [records[s]["name"] for s in subjects[len(FORMULAS):]] == [*HARMLESS, "2"]
    assert not any(s in records for s in subjects[:len(FORMULAS)])


def test_csv_and_jsonl_formula_text_is_refused_the_same_way(hub, civil):
    subject, other = resident_ids(2)
    csv_body = f'resident_id,name\n{subject},"=1+1"\n{other},张三\n'.encode()
    response = upload(hub, civil, csv_body, "csv")
    assert (response.json()["imported"], [e["line"] for e in response.json()["errors"]]) == (1, [2])
    jsonl_body = f'{{"resident_id": "{subject}", "name": "@x"}}\n'.encode()
    assert upload(hub, civil, jsonl_body, "jsonl").json()["failed"] == 1


def test_cli_import_of_a_bomb_names_the_limit_and_writes_nothing(hub, civil):
    settings = hub.settings
    env = {"HUB_DATABASE_URL": settings.resolved_database_url(), "HUB_VAR_DIR": str(settings.var_dir),
           "HUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value()}
    before = stored(hub)
    for name, says in (("shared_strings_lying", "not the size its zip entry declares"),
                       ("shared_strings_1gb", "xl/sharedStrings.xml declares"), ("billion_laughs", "DTD")):
        bomb = next(b for b in CATALOGUE if b.name == name)
        result = CliRunner().invoke(cli, ["import-source", SOURCE["id"], str(build(bomb))], env=dict(os.environ) | env)
        assert result.exit_code == 2, result.output
        assert says in " ".join(result.output.split()), result.output
    assert stored(hub) == before


def test_shared_strings_from_a_workbook_with_many_are_read_back_exactly(hub, civil, tmp_path):
    subjects = resident_ids(3000)
    texts = [f"名{i}·{'x' * (i % 50)}" for i in range(3000)]
    rows = [[inline(s), shared(len(texts) - 1 - i)] for i, s in enumerate(subjects)]
    path = write_xlsx(tmp_path / "strings.xlsx", sheet_xml([[inline("resident_id"), inline("name")], *rows]),
                      strings_xml(texts))
    assert upload(hub, civil, path.read_bytes(), "xlsx").json()["imported"] == 3000
    records = stored(hub)
    assert all(records[s]["name"] == texts[len(texts) - 1 - i] for i, s in enumerate(subjects))


def _text(path, content: str):
    path.write_text(content, encoding="utf-8")
    return path


def _styled_workbook(path):
    book = openpyxl.Workbook()
    book.active.append(["resident_id", "name"])
    for i, number_format in enumerate(["0.00", "0%", "yyyy-mm-dd", "#,##0", "0.000", "mm/dd/yy", "0.0E+00"]):
        book.active.cell(row=2, column=3 + i, value=1).number_format = number_format
    book.save(path)
    return path


LOWERED = [  # each cap once more, lowered so that a small file reaches it
    ("shared_strings", Limits(shared_strings=100), "xlsx",
     lambda p: write_xlsx(p, sheet_xml([[inline("resident_id"), inline("name")]]), strings_xml(map(str, range(101))))),
    ("styles", Limits(styles=5), "xlsx", _styled_workbook),
    ("zip_directory_bytes", Limits(zip_directory_bytes=200), "xlsx", _styled_workbook),
    ("total_bytes", Limits(total_bytes=4000), "xlsx", _styled_workbook),
    ("rows", Limits(rows=10), "csv", lambda p: _text(p, "resident_id,name\n" + f"{A},x\n" * 11)),
    ("columns", Limits(columns=3), "csv", lambda p: _text(p, "resident_id,name,a,b\n")),
    ("records_bytes", Limits(records_bytes=1000, batch_bytes=100), "csv",
     lambda p: _text(p, "resident_id,name\n" + "".join(f"{s},{'x' * 100}\n" for s in resident_ids(20)))),
]


@pytest.mark.parametrize("limit, limits, fmt, make", LOWERED, ids=[case[0] for case in LOWERED])
def test_every_cap_refuses_a_file_past_it_and_writes_nothing(hub, tmp_path, limit, limits, fmt, make):
    path = make(tmp_path / f"file.{fmt}")
    with pytest.raises(ImportTooLarge) as raised:
        import_file(hub.app.state.services.engine, path, source_id="caps", fmt=fmt, subject_field="resident_id",
                    fields=[FieldSpec("name")], limits=limits)
    assert raised.value.limit == limit and raised.value.maximum == getattr(limits, limit)
    with hub.app.state.services.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(shared_records)
                           .where(shared_records.c.source_id == "caps")) == 0
