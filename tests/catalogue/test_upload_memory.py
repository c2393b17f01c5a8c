"""The hub's memory stays bounded whatever an upload expands to.

A real hub process (uvicorn, on each backend pair) takes every bomb of tests/support/upload_bombs.py through
POST /sources/{id}/import, and a normal 10,000-row workbook. Before each upload the process's peak resident set
is reset (`/proc/PID/clear_refs`); after it, the peak (`VmHWM`) may exceed the resident set measured after a
warm-up by at most MEMORY_BOUND. Before the bounded reader, the 1 MB shared-strings file alone took the hub
past 4 GB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date

import httpx
import openpyxl
import pytest

from hub.bootstrap import initialise
from tests.conftest import BACKENDS, DEMO_DEPARTMENTS, ROOT, make_settings
from tests.support.servers import free_port
from tests.catalogue.test_upload_limits import MEDIA, SOURCE
from tests.support.upload_bombs import A, CATALOGUE, build, resident_ids

MEMORY_BOUND = 200 * 1024 * 1024  # bytes of peak resident memory one upload may add to the hub


@dataclass
class Served:
    """A hub process, a client on it, and the civil-affairs department's headers."""

    pid: int
    http: httpx.Client
    headers: dict
    baseline: int = 0

    def upload(self, body: bytes, fmt: str) -> httpx.Response:
        return self.http.post(f"/sources/{SOURCE['id']}/import", content=body,
                              headers=self.headers | {"content-type": MEDIA[fmt]})

    def memory(self, field: str) -> int:
        """VmRSS or VmHWM of the hub process, in bytes."""
        with open(f"/proc/{self.pid}/status") as status:
            line = next(line for line in status if line.startswith(field + ":"))
        return int(line.split()[1]) * 1024

    def reset_peak(self) -> None:
        with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current resident set (Linux >= 4.0)

    def peak_growth(self, body: bytes, fmt: str) -> tuple[httpx.Response, int]:
        """Upload, and return the answer and how far the hub's peak memory rose above the warm baseline."""
        self.reset_peak()
        response = self.upload(body, fmt)
        return response, self.memory("VmHWM") - self.baseline


def _environment(settings, port: int) -> dict:
    env = {"HUB_VAR_DIR": str(settings.var_dir), "HUB_DATABASE_URL": settings.resolved_database_url(),
           "HUB_STORAGE_URL": settings.storage_url, "HUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
           "HUB_PUBLIC_URL": f"http://127.0.0.1:{port}", "HUB_LICENSE_TYPES_DIR": str(settings.license_types_dir),
           "HUB_BATCH_WORKER": "false"}
    if settings.s3_endpoint:
        env |= {"HUB_S3_ENDPOINT": settings.s3_endpoint, "HUB_S3_ACCESS_KEY": settings.s3_access_key,
                "HUB_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value()}
    return os.environ | env


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory) -> Served:
    settings = make_settings(request.param, tmp_path_factory.mktemp("served"), request)
    operator = initialise(settings)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "hub.main:create_app", "--factory", "--host",
                                "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                               env=_environment(settings, port), cwd=ROOT, start_new_session=True)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=180)
    try:
        _wait_ready(http, process)
        served = Served(process.pid, http, _department(http, operator))
        _warm_up(served)
        yield served
    finally:
        http.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_ready(http: httpx.Client, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the hub process exited"
        try:
            if http.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the hub process did not answer /health within 60 s")


def _token(http: httpx.Client, client_id: str, secret: str) -> dict:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _department(http: httpx.Client, operator: dict) -> dict:
    code, name = DEMO_DEPARTMENTS["civil"]
    created = http.post("/departments", json={"code": code, "name": name, "region": "示例市"},
                        headers=_token(http, operator["client_id"], operator["client_secret"]))
    assert created.status_code == 201, created.text
    client = created.json()["client"]
    headers = _token(http, client["client_id"], client["client_secret"])
    assert http.post("/sources", json=SOURCE, headers=headers).status_code == 201
    return headers


def _warm_up(served: Served) -> None:
    """Load every code path once (a workbook with a date, a CSV, a refused file), then take the baseline."""
    book = openpyxl.Workbook()
    book.active.append(["resident_id", "name", "registered_on"])
    book.active.append([A, "张三", date(2015, 3, 1)])
    small = build(CATALOGUE[0]).parent / "warm.xlsx"
    book.save(small)
    assert served.upload(small.read_bytes(), "xlsx").status_code == 200
    assert served.upload(f"resident_id,name\n{A},张三\n".encode(), "csv").status_code == 200
    assert served.upload(build(CATALOGUE[0]).read_bytes(), "xlsx").status_code == 413
    served.baseline = served.memory("VmRSS")


@pytest.mark.parametrize("bomb", CATALOGUE, ids=[b.name for b in CATALOGUE])
def test_a_bomb_keeps_the_hub_within_its_memory_bound(served, bomb):
    response, growth = served.peak_growth(build(bomb).read_bytes(), bomb.suffix)
    assert response.status_code == bomb.status, response.text
    assert response.json()["type"] == f"urn:hub:problem:{bomb.code}"
    print(f"{bomb.name}: peak +{growth / 2**20:.1f} MiB")
    assert growth < MEMORY_BOUND, f"{bomb.name} took the hub {growth / 2**20:.0f} MiB above its baseline"


def test_a_normal_10000_row_workbook_stays_within_the_bound_too(served, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["resident_id", "name", "registered_on"])
    for i, subject in enumerate(resident_ids(10_000)):
        sheet.append([subject, f"张{i}·示例市某区某街道{i}号", date(2000 + i % 20, 1 + i % 12, 1)])
    book.save(tmp_path / "normal.xlsx")
    response, growth = served.peak_growth((tmp_path / "normal.xlsx").read_bytes(), "xlsx")
    assert response.status_code == 200 and response.json()["imported"] == 10_000, response.text
    print(f"normal 10,000 rows: peak +{growth / 2**20:.1f} MiB")
    assert growth < MEMORY_BOUND


def test_a_40_mb_batch_file_stays_within_the_bound(served):
    """POST /licenses/batch reads its file line by line: before, a 40 MB CSV was decoded whole and copied into a
    4-bytes-a-character StringIO (about 200 MB)."""
    line = b"k,11100000000013338W001,credit_code,91350100MA2XXXXX0X," + "示例".encode() * 50 + b"\n"
    body = b"key,type,holder_id_type,holder_id,holder_name\n" + line * (39 * 2**20 // len(line))
    served.reset_peak()
    response = served.http.post("/licenses/batch", content=body, headers=served.headers | {"content-type": "text/csv"})
    growth = served.memory("VmHWM") - served.baseline
    assert response.status_code == 413 and response.json()["type"] == "urn:hub:problem:too_many_rows", response.text
    print(f"batch of {len(body) / 2**20:.0f} MiB: peak +{growth / 2**20:.1f} MiB")
    assert growth < MEMORY_BOUND
