"""Bulk import (归集) into shared_records on SQLite and PostgreSQL: bad rows by line, upserts, formats, garbage."""

from __future__ import annotations

import io
import json
import os
from datetime import date, datetime, timezone

import openpyxl
import pytest
import sqlalchemy as sa

from connectors import (
    ConnectorConfigError,
    FieldSpec,
    ImportFormatError,
    build,
    create_store_table,
    import_file,
    shared_records,
)
from tests.conftest import scratch_database

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
FIELDS = [FieldSpec("name"), FieldSpec("months_paid", "integer"), FieldSpec("balance", "number"),
          FieldSpec("enrolled", "date"), FieldSpec("active", "boolean")]
A, B, C, D = "110105199001010010", "110105199001010037", "110105199001010053", "11010519900101007X"
BAD_CHECKSUM = "110105199001010011"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_ok(subject: str) -> bool:
    """GB 11643-1999 check character (ISO 7064 MOD 11-2) over the first 17 digits."""
    if len(subject) != 18 or not subject[:17].isascii() or not subject[:17].isdigit():
        return False
    return subject[17] == "10X98765432"[sum(int(d) * w for d, w in zip(subject[:17], _WEIGHTS, strict=True)) % 11]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> sa.Engine:
    """The hub's database with shared_records, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = scratch_database(request, "bulk")
    engine = sa.create_engine(url)
    create_store_table(engine)
    yield engine
    engine.dispose()



def stored(engine: sa.Engine, source_id: str = "labour-insured") -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(shared_records.c.subject, shared_records.c.data)
                            .where(shared_records.c.source_id == source_id))
        return {subject: data for subject, data in rows}


def run(engine: sa.Engine, content: bytes | str, fmt: str = "csv", **options):
    source = io.BytesIO(content.encode() if isinstance(content, str) else content)
    kwargs = {"source_id": "labour-insured", "fmt": fmt, "subject_field": "resident_id", "fields": FIELDS,
              "subject_check": resident_id_ok, "now": NOW} | options
    return import_file(engine, source, **kwargs)


CSV_WITH_BAD_ROWS = (
    "resident_id,name,months_paid,balance,enrolled,active\n"  # 1
    f"{A},张三,120,1234.50,2015-03-01,true\n"  # 2
    f"{BAD_CHECKSUM},王五,3,1,2020-01-01,true\n"  # 3: check character wrong
    f"{B},李四,twelve,0,2024-01-15,false\n"  # 4: not an integer
    f"{C},赵六,5\n"  # 5: short row
    f'{C},"赵六\n多行地址",5,10,2023/7/1,是\n'  # 6-7: a quoted cell over two lines
    f"{D},钱七,1,1,2023-02-30,yes\n"  # 8: no such date
    "\n"  # 9: blank
    f"{B},李四,12,0,20240115,false\n"  # 10
)


def test_bad_rows_are_reported_by_line_and_good_rows_imported(engine):
    report = run(engine, CSV_WITH_BAD_ROWS)
    assert (report.total, report.imported, report.failed) == (7, 3, 4)
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [
        (3, "subject fails the identifier check (GB 11643 / GB 32100)"), (4, "column 'months_paid'"),
        (5, "expected 6 columns, found 3"), (8, "column 'enrolled'")]
    assert "'twelve' is not an integer" in report.errors[1].message
    assert stored(engine) == {
        A: {"name": "张三", "months_paid": 120, "balance": 1234.5, "enrolled": "2015-03-01", "active": True},
        B: {"name": "李四", "months_paid": 12, "balance": 0.0, "enrolled": "2024-01-15", "active": False},
        C: {"name": "赵六\n多行地址", "months_paid": 5, "balance": 10.0, "enrolled": "2023-07-01", "active": True},
    }


def test_reimport_upserts_and_later_rows_win(engine):
    first = f"resident_id,name,months_paid,balance,enrolled,active\n{A},张三,120,1,2015-03-01,true\n{B},李四,1,1,,\n"
    assert run(engine, first).imported == 2
    again = (f"\ufeffresident_id,name,months_paid,balance,enrolled,active\n{A},张三,121,1,2015-03-01,true\n"
             f"{B},李四,2,1,,\n{B},李四,3,1,2024-01-15,\n")  # with a BOM; B twice: the later row wins
    report = run(engine, again.encode(), now=LATER)
    assert (report.total, report.imported, report.failed) == (3, 3, 0)
    records = stored(engine)
    assert len(records) == 2
    assert records[A]["months_paid"] == 121
    assert records[B] == {"name": "李四", "months_paid": 3, "balance": 1.0, "enrolled": "2024-01-15", "active": None}
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(shared_records.c.imported_at)).scalars().all()
    assert {stamp.replace(tzinfo=timezone.utc) for stamp in stamps} == {LATER}


def test_invalid_utf8_row_is_reported_and_the_rest_imported(engine):
    content = ("resident_id,name,months_paid,balance,enrolled,active\n".encode()
               + f"{A},\xff\xfe,1,1,,\n".encode("latin-1") + f"{B},李四,2,2,,\n".encode())
    report = run(engine, content)
    assert [(e.line, e.message) for e in report.errors] == [(2, "not valid UTF-8")]
    assert list(stored(engine)) == [B]


def test_jsonl_rows_are_typed_and_bad_lines_reported(engine):
    lines = [
        {"resident_id": A, "name": "张三", "months_paid": 120, "balance": "12.5", "enrolled": "2015-03-01",
         "active": True, "ignored": "not a declared field"},
        {"resident_id": B, "name": "李四", "months_paid": 1.5},  # line 2: not an integer
        "{not json",  # 3
        [A, "张三"],  # 4: not an object
        {"name": "无名"},  # 5: no subject
        {"resident_id": C, "name": "赵六", "months_paid": "7", "active": 0},  # 6
    ]
    content = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    report = run(engine, content + "\n", fmt="jsonl")
    assert [e.line for e in report.errors] == [2, 3, 4, 5]
    assert (report.total, report.imported) == (6, 2)
    assert stored(engine) == {
        A: {"name": "张三", "months_paid": 120, "balance": 12.5, "enrolled": "2015-03-01", "active": True},
        C: {"name": "赵六", "months_paid": 7, "balance": None, "enrolled": None, "active": False},
    }


def test_xlsx_first_sheet_is_imported_with_spreadsheet_types(engine, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["resident_id", "name", "months_paid", "balance", "enrolled", "active", "note"])
    sheet.append([A, "张三", 120, 1234.5, datetime(2015, 3, 1), True, "ignored"])  # 2
    sheet.append([B, "李四", "十二", 0, date(2024, 1, 15), False, None])  # 3: not an integer
    sheet.append([None] * 7)  # 4: an empty row
    sheet.append([C, "赵六", 5.0, "10", "2023-07-01", "否", None])  # 5
    sheet.append([BAD_CHECKSUM, "王五", 1, 1, None, None, None])  # 6
    path = tmp_path / "insured.xlsx"
    book.save(path)
    report = import_file(engine, path, source_id="labour-insured", fmt="xlsx", subject_field="resident_id",
                         fields=FIELDS, subject_check=resident_id_ok, now=NOW)
    assert [e.line for e in report.errors] == [3, 6]
    assert (report.total, report.imported, report.failed) == (4, 2, 2)
    assert stored(engine) == {
        A: {"name": "张三", "months_paid": 120, "balance": 1234.5, "enrolled": "2015-03-01", "active": True},
        C: {"name": "赵六", "months_paid": 5, "balance": 10.0, "enrolled": "2023-07-01", "active": False},
    }


@pytest.mark.parametrize(("fmt", "content", "why"), [
    ("csv", os.urandom(4096) + b"\x00", "binary|UTF-8"),
    ("csv", b"name,months_paid\n\xe5\xbc\xa0,1\n", "no column 'resident_id'"),
    ("csv", b"", "empty"),
    ("jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not JSON"),
    ("jsonl", b"[1, 2]\n", "not a JSON object"),
    ("xlsx", b"resident_id,name\n110105199001010010,x\n", "not an XLSX"),
    ("xlsx", os.urandom(2048), "not an XLSX"),
    ("xml", b"<a/>", "unknown format"),
])
def test_file_not_in_the_declared_format_is_refused_before_writing(engine, fmt, content, why):
    with pytest.raises(ImportFormatError, match=why) as raised:
        run(engine, content, fmt=fmt, fields=[FieldSpec("name")])
    assert raised.value.code == "import_format_invalid"
    assert stored(engine) == {}


def test_errors_kept_are_capped_but_all_are_counted(engine):
    rows = "".join(f"{BAD_CHECKSUM},x\n" for _ in range(1500))
    report = run(engine, f"resident_id,name\n{rows}{A},张三\n", fields=[FieldSpec("name")], batch_size=100)
    assert (report.total, report.imported, report.failed, len(report.errors)) == (1501, 1, 1500, 1000)
    assert report.errors[-1].line == 1001


def test_progress_is_reported_per_batch_with_the_total(engine):
    calls = []
    rows = "".join(f"{A if i % 2 else B},n{i}\n" for i in range(25))
    run(engine, f"resident_id,name\n{rows}", fields=[FieldSpec("name")], batch_size=10,
        progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10, 25), (20, 25), (25, 25)]
    assert stored(engine) == {A: {"name": "n23"}, B: {"name": "n24"}}


async def test_bulk_connector_reads_only_its_own_source(engine):
    run(engine, f"resident_id,name,months_paid,balance,enrolled,active\n{A},张三,120,1,2015-03-01,true\n")
    run(engine, f"resident_id,name\n{B},其他来源\n", source_id="civil-marriage", fields=[FieldSpec("name")])
    connector = build("bulk", {}, engine=engine, source_id="labour-insured")
    assert await connector.fetch(A, ["name", "months_paid", "missing"]) == {"name": "张三", "months_paid": 120}
    assert await connector.fetch(B, ["name"]) is None
    health = await connector.health()
    assert health.ok and health.detail == "1 records imported"
    await connector.aclose()


async def test_bulk_connector_on_a_missing_table_is_unhealthy(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    connector = build("bulk", {"subject_field": "resident_id"}, engine=engine, source_id="x")
    assert not (await connector.health()).ok
    engine.dispose()


def test_bulk_config_keeps_the_import_settings_and_rejects_unknown_keys(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    settings = {"format": "xlsx", "subject_field": "credit_code", "fields": [{"name": "capital", "type": "number"}]}
    assert build("bulk", settings, engine=engine, source_id="market-licenses").source_id == "market-licenses"
    with pytest.raises(ConnectorConfigError, match="format: .*'csv', 'jsonl' or 'xlsx'"):
        build("bulk", {"format": "xls"}, engine=engine, source_id="x")
    with pytest.raises(ConnectorConfigError, match="delimiter: unknown key"):
        build("bulk", {"delimiter": ";"}, engine=engine, source_id="x")
    engine.dispose()
