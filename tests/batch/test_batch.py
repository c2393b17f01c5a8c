"""Batch issuance on both backend pairs: counts and line numbers, idempotent re-submission, bad files,
access, and a worker killed with SIGKILL mid-batch (no orphan objects, every row issued once).

HUB_TEST_BATCH_ROWS (default 10,000) and HUB_TEST_KILL_ROWS (default 1,000) size the two big batches.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import orjson
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from hub.batch import cli as batch_cli
from hub.batch.parse import read_batch
from hub.batch.tables import BatchJob, BatchRow
from hub.core.national_ids import make_credit_code
from hub.licenses.tables import License, SerialCounter
from tests.conftest import BACKENDS, ROOT, bearer, start_hub
from tests.support.licenses import BUSINESS
from tests.support.servers import ServerThread

ROWS = int(os.environ.get("HUB_TEST_BATCH_ROWS", "10000"))
KILL_ROWS = int(os.environ.get("HUB_TEST_KILL_ROWS", "1000"))
STOP_ROWS = 5000
CSV_TYPE = {"Content-Type": "text/csv"}
JSONL_TYPE = {"Content-Type": "application/x-ndjson"}
COLUMNS = ["key", "type", "holder_id_type", "holder_id", "holder_name", "valid_from", "valid_until",
           "data.legal_representative", "data.enterprise_type", "data.registered_capital", "data.established",
           "data.address", "data.business_scope"]
_seed = iter(range(30_000_000, 40_000_000))


# --- building files -----------------------------------------------------------------------------------


def good_row(key: str) -> dict:
    return {"key": key, "type": BUSINESS, "holder_id_type": "credit_code",
            "holder_id": make_credit_code(next(_seed), region="990100"), "holder_name": "福州闽江数字科技有限公司",
            "valid_from": "", "valid_until": "", "data.legal_representative": "林建华",
            "data.enterprise_type": "有限责任公司", "data.registered_capital": "500万元",
            "data.established": "2015-03-15", "data.address": "示例市鼓楼区五四路100号",
            "data.business_scope": "软件开发"}


def rows_with_faults(n: int, prefix: str) -> tuple[list[dict], dict[int, str]]:
    """n rows, some broken on purpose; returns them and {row index: expected error code}."""
    rows, bad = [], {}
    for i in range(n):
        row = good_row(f"{prefix}-{i}")
        if i % 97 == 5:
            last = row["holder_id"][-1]
            row["holder_id"] = row["holder_id"][:-1] + ("0" if last != "0" else "1")
            bad[i] = "invalid_license_data"
        elif i % 89 == 7:
            row["data.legal_representative"] = ""
            bad[i] = "invalid_license_data"
        elif i % 83 == 11:
            row["type"] = "11100000000013338W999"
            bad[i] = "unknown_license_type"
        elif i % 101 == 13 and i > 0:
            row["key"] = rows[i - 1]["key"]
            bad[i] = "duplicate_key"
        rows.append(row)
    return rows, bad


def to_csv(rows: list[dict], columns: list[str] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def to_jsonl(rows: list[dict]) -> bytes:
    lines = []
    for row in rows:
        data = {k[5:]: v for k, v in row.items() if k.startswith("data.") and v}
        lines.append(orjson.dumps({"key": row["key"], "type": row["type"], "data": data, "holder": {
            "id_type": row["holder_id_type"], "id": row["holder_id"], "name": row["holder_name"]}}))
    return b"\n".join(lines) + b"\n"


def test_csv_line_numbers_follow_quoted_newlines_and_blank_lines():
    company = make_credit_code(next(_seed), region="990100")
    body = ("key,type,holder_id_type,holder_id,holder_name,data\r\n"
            f'k1,{BUSINESS},credit_code,{company},N,"{{""legal_representative"":\r\n""A""}}"\r\n'
            "\r\n"
            f"k2,{BUSINESS},credit_code,{company},N,not json\r\n"
            f",{BUSINESS},credit_code,{company},N,{{}}\r\n"
            f"{'k' * 129},{BUSINESS},credit_code,{company},N,{{}}\r\n").encode()
    rows = list(read_batch(body, "csv"))
    assert [(r.line, r.key, r.code) for r in rows] == [(2, "k1", None), (5, "k2", "invalid_row"),
                                                      (6, None, "missing_key"), (7, None, "invalid_key")]
    assert rows[0].request.data == {"legal_representative": "A"} and rows[0].request.holder.name == "N"
    assert rows[1].errors[0]["field"] == "data"


# --- helpers ------------------------------------------------------------------------------------------


def submit(hub, department, body: bytes, headers=CSV_TYPE, expect=202) -> dict:
    response = hub.client.post("/licenses/batch", content=body, headers=bearer(hub, department) | headers)
    assert response.status_code == expect, response.text
    return response.json()


def wait_for(hub, department, job_id: str, *, timeout: float, until=lambda j: j["status"] in ("completed", "failed")):
    headers = bearer(hub, department)
    deadline = time.monotonic() + timeout
    while True:
        job = hub.client.get(f"/jobs/{job_id}", params={"limit": 1000}, headers=headers).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job did not get there in {timeout} s: {job}"
        time.sleep(0.2)


def all_errors(hub, department, job_id: str) -> list[dict]:
    errors, offset = [], 0
    while True:
        page = hub.client.get(f"/jobs/{job_id}", params={"offset": offset, "limit": 1000},
                              headers=bearer(hub, department)).json()
        errors += page["errors"]
        offset += 1000
        if offset >= page["errors_total"]:
            return errors


def count(hub, table) -> int:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(table))


# --- behaviour ----------------------------------------------------------------------------------------


def test_csv_batch_with_bad_rows_reports_counts_and_line_numbers(hub, departments):
    rows, bad = rows_with_faults(ROWS, f"csv-{hub.backend}")
    before = count(hub, License)
    started = time.monotonic()
    job = submit(hub, departments["market"], to_csv(rows))
    assert job["status"] == "queued" and job["total"] == ROWS and job["done"] == 0
    job = wait_for(hub, departments["market"], job["id"], timeout=60 + ROWS / 5)
    elapsed = time.monotonic() - started
    print(f"\n{hub.backend}: {ROWS} rows in {elapsed:.1f} s = {ROWS / elapsed:.1f} rows/s")
    assert job["status"] == "completed"
    assert (job["total"], job["done"], job["issued"], job["failed"]) == (ROWS, ROWS - len(bad), ROWS - len(bad),
                                                                         len(bad))
    errors = all_errors(hub, departments["market"], job["id"])
    assert [(e["line"], e["code"]) for e in errors] == [(i + 2, code) for i, code in sorted(bad.items())]
    by_line = {e["line"]: e for e in errors}
    assert by_line[5 + 2]["errors"][0]["field"] == "holder.id"  # row 5: the check character
    assert by_line[7 + 2]["errors"][0] == {"field": "legal_representative", "code": "missing",
                                           "message": "required field is missing (法定代表人)"}
    assert "line 14" in by_line[13 + 2]["detail"]  # row 13 repeats the key of row 12 (line 14)
    assert count(hub, License) == before + ROWS - len(bad)


def test_jsonl_batch_reports_line_numbers(hub, departments):
    rows, bad = rows_with_faults(40, f"jsonl-{hub.backend}")
    body = to_jsonl(rows).replace(b'{"key":"jsonl-%s-20"' % hub.backend.encode(),
                                  b'{"colour":"red","key":"jsonl-%s-20"' % hub.backend.encode())
    job = submit(hub, departments["market"], b"\n" + body, headers=JSONL_TYPE)  # a blank first line counts
    job = wait_for(hub, departments["market"], job["id"], timeout=60)
    expected = {i + 2: code for i, code in bad.items()} | {22: "invalid_row"}
    assert {e["line"]: e["code"] for e in job["errors"]} == expected
    assert job["errors"][-1]["errors"][0]["field"] == "colour"
    assert (job["total"], job["done"], job["failed"]) == (40, 40 - len(expected), len(expected))


def test_resubmitting_the_same_file_issues_nothing_new(hub, departments):
    rows = [good_row(f"again-{hub.backend}-{i}") for i in range(15)]
    body, market = to_csv(rows), departments["market"]
    first = wait_for(hub, market, submit(hub, market, body)["id"], timeout=60)
    assert (first["done"], first["issued"]) == (15, 15)
    licenses = count(hub, License)
    second = wait_for(hub, market, submit(hub, market, body)["id"], timeout=60)
    assert (second["done"], second["issued"], second["failed"]) == (15, 0, 0)
    assert count(hub, License) == licenses
    with hub.app.state.services.session_factory() as session:
        identifiers = {j: session.scalars(select(BatchRow.license_identifier).where(BatchRow.job_id == j)
                                          .order_by(BatchRow.line)).all() for j in (first["id"], second["id"])}
    assert identifiers[first["id"]] == identifiers[second["id"]]


def test_a_key_reused_for_another_license_fails_that_row(hub, departments):
    market = departments["market"]
    row = good_row(f"reuse-{hub.backend}")
    wait_for(hub, market, submit(hub, market, to_csv([row]))["id"], timeout=60)
    changed = row | {"holder_name": "另一家公司"}
    job = wait_for(hub, market, submit(hub, market, to_csv([changed]))["id"], timeout=60)
    assert job["failed"] == 1 and job["errors"][0]["code"] == "idempotency_key_reused"


def test_idempotency_key_returns_the_same_job(hub, departments):
    market = departments["market"]
    body = to_csv([good_row(f"idem-{hub.backend}")])
    key = {"Idempotency-Key": f"upload-{hub.backend}"}
    first = submit(hub, market, body, CSV_TYPE | key)
    again = submit(hub, market, body, CSV_TYPE | key, expect=200)
    assert again["id"] == first["id"]
    other = submit(hub, market, to_csv([good_row("other")]), CSV_TYPE | key, expect=409)
    assert other["type"] == "urn:hub:problem:idempotency_key_reused"
    wait_for(hub, market, first["id"], timeout=60)


HEADER = ",".join(COLUMNS).encode() + b"\n"
GOOD_LINE = to_csv([good_row("x")]).split(b"\r\n")[1] + b"\n"


@pytest.mark.parametrize("body, headers, status, code", [
    (HEADER + b'k1,"unterminated\n', CSV_TYPE, 400, "malformed_batch"),
    (HEADER + GOOD_LINE + b"a,b,c\n", CSV_TYPE, 400, "malformed_batch"),
    (b"key,type,colour\nk,t,red\n", CSV_TYPE, 400, "unknown_columns"),
    (b"key,type\nk,t\n", CSV_TYPE, 400, "missing_columns"),
    (HEADER.replace(b"key,", b"key,key,") + b"\n", CSV_TYPE, 400, "malformed_batch"),
    (b"", CSV_TYPE, 422, "empty_batch"),
    (HEADER, CSV_TYPE, 422, "empty_batch"),
    (HEADER + b"\xff\xfe" + GOOD_LINE, CSV_TYPE, 400, "malformed_batch"),
    (b'{"key": "a"}\nnot json\n', JSONL_TYPE, 400, "malformed_batch"),
    (b'["a list"]\n', JSONL_TYPE, 400, "malformed_batch"),
    (GOOD_LINE, {"Content-Type": "application/json"}, 415, "unsupported_batch_type"),
    (GOOD_LINE, {}, 415, "unsupported_batch_type"),
    (HEADER + GOOD_LINE + b"k2," + b"x" * (1 << 20) + b"\n", CSV_TYPE, 413, "line_too_long"),
    (b'{"key": "' + b"x" * (1 << 20) + b'"}\n', JSONL_TYPE, 413, "line_too_long"),
    (HEADER + b'k2,"' + b"x\n" * 70_000 + b'"\n', CSV_TYPE, 400, "malformed_batch"),
], ids=["unterminated-quote", "wrong-cell-count", "unknown-column", "missing-columns", "repeated-column", "empty",
        "header-only", "not-utf8", "jsonl-not-json", "jsonl-not-object", "json-content-type", "no-content-type",
        "csv-line-over-1-mib", "jsonl-line-over-1-mib", "csv-cell-over-128-kib"])
def test_bad_batch_files_are_refused_and_change_nothing(hub, departments, body, headers, status, code):
    jobs, rows, licenses = count(hub, BatchJob), count(hub, BatchRow), count(hub, License)
    objects = hub.app.state.services.store.list("batches/")
    problem = submit(hub, departments["market"], body, headers, expect=status)
    assert problem["type"] == f"urn:hub:problem:{code}" and problem["detail"]
    assert (count(hub, BatchJob), count(hub, BatchRow), count(hub, License)) == (jobs, rows, licenses)
    assert hub.app.state.services.store.list("batches/") == objects


def test_too_many_rows_and_a_50_mb_upload_get_413(hub, departments):
    jobs = count(hub, BatchJob)
    line = b"k,11100000000013338W001,credit_code,x,y\n"
    many = b"key,type,holder_id_type,holder_id,holder_name\n" + line * 100_001
    assert submit(hub, departments["market"], many, expect=413)["type"] == "urn:hub:problem:too_many_rows"
    huge = HEADER + GOOD_LINE * (50 * 1024 * 1024 // len(GOOD_LINE))
    assert submit(hub, departments["market"], huge, expect=413)["type"] == "urn:hub:problem:payload_too_large"
    assert count(hub, BatchJob) == jobs


def test_rows_with_text_that_starts_like_a_formula_are_refused(hub, departments):
    prefix = f"formula-{hub.backend}"
    rows = [good_row(f"{prefix}-{i}") for i in range(5)]
    rows[1]["holder_name"] = '=HYPERLINK("http://evil.example","点击")'
    rows[2]["data.address"] = "@SUM(A1:A9)"
    rows[3]["key"] = "=cmd|' /C calc'!A0"
    rows[4]["data.registered_capital"] = "-"  # a lone dash (no value) is not a formula
    job = wait_for(hub, departments["market"], submit(hub, departments["market"], to_csv(rows))["id"], timeout=60)
    assert {e["line"]: (e["key"], e["code"]) for e in job["errors"]} == {
        3: (f"{prefix}-1", "formula_text"), 4: (f"{prefix}-2", "formula_text"), 5: (None, "invalid_key")}
    assert job["errors"][0]["errors"][0]["field"] == "holder.name"
    assert job["errors"][1]["errors"][0]["field"] == "data.address"
    assert (job["done"], job["failed"]) == (2, 3)


def test_another_department_cannot_read_the_job(hub, departments):
    job = submit(hub, departments["market"], to_csv([good_row(f"private-{hub.backend}")]))
    assert hub.client.get(f"/jobs/{job['id']}", headers=bearer(hub, departments["civil"])).status_code == 404
    assert hub.client.get("/jobs/no-such-job", headers=bearer(hub, departments["market"])).status_code == 404
    assert hub.client.get(f"/jobs/{job['id']}").status_code == 401
    assert hub.client.get(f"/jobs/{job['id']}", headers=hub.operator_headers()).status_code == 200
    assert hub.client.post("/licenses/batch", content=b"", headers=hub.operator_headers() | CSV_TYPE).status_code == 403
    wait_for(hub, departments["market"], job["id"], timeout=60)


def stored_licenses(hub) -> tuple[set[str], set[str]]:
    """Return the objects under licenses/ and the prefixes of the committed licenses."""
    with hub.app.state.services.session_factory() as session:
        identifiers = set(session.scalars(select(License.identifier)))
    return set(hub.app.state.services.store.list("licenses/")), {f"licenses/{i}/" for i in identifiers}


def test_issue_batch_command_follows_the_job_to_its_end(hub, departments, tmp_path):
    rows, bad = rows_with_faults(12, f"cli-{hub.backend}")
    path = tmp_path / "licenses.csv"
    path.write_bytes(to_csv(rows))
    client = departments["market"]["client"]
    with ServerThread(hub.app, lifespan="off") as url:
        command = ["issue-batch", str(path), "--url", url, "--client-id", client["client_id"],
                   "--client-secret", client["client_secret"]]
        first = CliRunner().invoke(batch_cli.app, command)
        again = CliRunner().invoke(batch_cli.app, command)
    assert first.exit_code == 1, first.output  # some rows failed
    assert f"{12 - len(bad)} done ({12 - len(bad)} newly issued), {len(bad)} failed" in first.output
    assert "line 7 (cli-" in first.output and "unknown_license_type" in first.output
    job_id = first.output.split("Job ")[1].split(":")[0]
    assert f"Job {job_id}" in again.output  # the same file is the same job (Idempotency-Key: its SHA-256)


def register_market(hub) -> dict:
    response = hub.client.post("/departments", json={"code": "11990100MB0000019L", "name": "示例市市场监督管理局",
                                                     "region": "示例市"}, headers=hub.operator_headers())
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stopped_worker_leaves_the_rest_of_the_job_to_the_next(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request, batch_worker=False)
    market = register_market(hub)
    job = submit(hub, market, to_csv([good_row(f"stop-{i}") for i in range(STOP_ROWS)]))
    # Small chunks and enough rows that the job outlasts procrastinate's graceful shutdown (1 s).
    runtime, ctx = hub.app.state.services.batch, replace(hub.app.state.services.batch_context, chunk_rows=50)
    runtime.start_worker(ctx, poll=0.5, heartbeat=1, stalled_after=5)
    wait_for(hub, market, job["id"], timeout=60, until=lambda j: j["done"] >= 10)
    runtime.worker.stop()
    stopped = wait_for(hub, market, job["id"], timeout=5, until=lambda j: True)
    assert not runtime.worker._thread.is_alive()  # stopped: nothing can move the job on
    assert wait_for(hub, market, job["id"], timeout=5, until=lambda j: True)["done"] == stopped["done"] < STOP_ROWS
    if backend == "postgresql+s3":  # the aborted queue job was put back by the retry strategy
        with hub.app.state.services.engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM procrastinate_jobs")).scalars().all() == ["todo"]
    runtime.start_worker(ctx, poll=0.5, heartbeat=1, stalled_after=5)
    job = wait_for(hub, market, job["id"], timeout=60)
    assert (job["status"], job["done"], job["issued"], job["failed"]) == ("completed", STOP_ROWS, STOP_ROWS, 0)


# --- kill -9 ------------------------------------------------------------------------------------------


def worker_env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_DATABASE_URL": settings.resolved_database_url(), "HUB_STORAGE_URL": settings.storage_url,
                "HUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
                "HUB_LICENSE_TYPES_DIR": str(settings.license_types_dir), "HUB_VAR_DIR": str(settings.var_dir),
                "HUB_PUBLIC_URL": settings.public_url, "PYTHONPATH": str(ROOT)})
    if settings.s3_endpoint:
        env.update({"HUB_S3_ENDPOINT": settings.s3_endpoint, "HUB_S3_ACCESS_KEY": settings.s3_access_key,
                    "HUB_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value()})
    return env


def start_worker(settings, log_path) -> subprocess.Popen:
    command = [sys.executable, "-m", "hub", "worker", "--heartbeat", "1", "--stalled-after", "3",
               "--poll", "0.5"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=ROOT, env=worker_env(settings), stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_killed_mid_batch_ends_with_every_row_issued_exactly_once(backend, tmp_path, request):
    hub = start_hub(backend, tmp_path, request, batch_worker=False)
    market = register_market(hub)
    rows, bad = rows_with_faults(KILL_ROWS, "kill")
    job = submit(hub, market, to_csv(rows))
    log_path = tmp_path / "worker.log"
    first = start_worker(hub.settings, log_path)
    try:
        at_kill = wait_for(hub, market, job["id"], timeout=120, until=lambda j: j["done"] >= 40)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert at_kill["status"] == "running" and at_kill["done"] < KILL_ROWS - len(bad), "killed too late to matter"
    second = start_worker(hub.settings, log_path)
    try:
        job = wait_for(hub, market, job["id"], timeout=120 + KILL_ROWS / 5)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert (job["status"], job["done"], job["failed"]) == ("completed", KILL_ROWS - len(bad), len(bad)), \
        log_path.read_text()[-3000:]
    good_holders = [r["holder_id"] for i, r in enumerate(rows) if i not in bad]
    with hub.app.state.services.session_factory() as session:
        per_holder = dict(session.execute(select(License.holder_id, func.count()).group_by(License.holder_id)).all())
        results = session.scalar(select(func.count()).select_from(BatchRow).where(BatchRow.job_id == job["id"]))
        serials = session.scalars(select(SerialCounter.last)).all()
    assert per_holder == {holder: 1 for holder in good_holders}  # every good row exactly once, nothing else
    assert results == KILL_ROWS and serials == [len(good_holders)]  # no serial skipped or reused
    stored, prefixes = stored_licenses(hub)
    assert all(any(key.startswith(p) for p in prefixes) for key in stored)  # no orphan object
    # Batch rows are records only: their QR images and PDF render on first request, and then are stored.
    identifier = sorted(prefixes)[0].split("/")[1]
    assert not [key for key in stored if key.startswith(f"licenses/{identifier}/")]
    png = hub.client.get(f"/licenses/{identifier}/qr.png", headers=bearer(hub, market))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    pdf = hub.client.get(f"/licenses/{identifier}/pdf", headers=bearer(hub, market))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert {f"licenses/{identifier}/{name}" for name in ("qr.png", "qr.svg", "license.pdf")} <= stored_licenses(hub)[0]
