"""End to end over real HTTP: a uvicorn server on loopback, driven with httpx; the demo and `hub serve` too."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, ROOT, make_settings
from tests.support.licenses import business_license_request
from tests.support.servers import ServerThread, free_port
from hub.bootstrap import initialise
from hub.demo.data import NO_ARREARS, company, person
from hub.main import create_app


@pytest.mark.parametrize("backend", BACKENDS)
def test_department_to_verified_qr_over_http(backend, tmp_path, request):
    settings = make_settings(backend, tmp_path, request)
    server_port = free_port()
    settings.public_url = f"http://127.0.0.1:{server_port}"
    operator = initialise(settings)
    with ServerThread(create_app(settings), server_port) as base, httpx.Client(base_url=base, timeout=10) as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(operator["client_id"], operator["client_secret"])).json()["access_token"]
        department = http.post("/departments", headers={"Authorization": f"Bearer {token}"},
                               json={"code": "11990100MB0000019L", "name": "示例市市场监督管理局", "region": "示例市"})
        assert department.status_code == 201, department.text
        client = department.json()["client"]
        dept_token = http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                     "client_id": client["client_id"],
                                                     "client_secret": client["client_secret"]}).json()["access_token"]
        headers = {"Authorization": f"Bearer {dept_token}", "Idempotency-Key": "e2e-1"}
        issued = http.post("/licenses", json=business_license_request(), headers=headers)
        assert issued.status_code == 201, issued.text
        png = http.get(f"/licenses/{issued.json()['id']}/qr.png", headers=headers)
        scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
        assert len(scanned) == 1 and scanned[0].format == zxingcpp.BarcodeFormat.QRCode
        verified = http.post("/verify", json={"qr": scanned[0].text})
        assert verified.status_code == 200
        assert verified.json()["valid"] is True and verified.json()["license"]["id"] == issued.json()["id"]


def _env(tmp: Path, port: int) -> dict:
    return os.environ | {"HUB_VAR_DIR": str(tmp / "var"), "HUB_STORAGE_URL": f"file://{tmp / 'var' / 'objects'}",
                         "HUB_LICENSE_TYPES_DIR": str(ROOT / "schemas" / "license-types"),
                         "HUB_PUBLIC_URL": f"http://127.0.0.1:{port}", "HUB_PORT": str(port),
                         "HUB_DEMO_HOUSEHOLD_PORT": str(free_port())}


def _hub(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_demo_is_idempotent_and_the_served_hub_verifies_its_licenses(tmp_path):
    port = free_port()
    env = _env(tmp_path, port)
    first = _hub("demo", env=env, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    second = _hub("demo", env=env, cwd=ROOT)
    assert second.returncode == 0, second.stderr
    assert "(0 new)" in second.stdout and "HUB1:" in second.stdout
    credentials = json.loads((tmp_path / "var" / "demo" / "credentials.json").read_text())
    assert set(credentials["departments"]) == {"market", "civil_affairs", "natural_resources", "human_resources",
                                               "public_security"}
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'hub.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM licenses")).scalar() == 20
        assert conn.execute(text("SELECT count(*) FROM departments")).scalar() == 5
        rules = set(conn.execute(text("SELECT d.code, r.target FROM egress_rules r JOIN departments d "
                                      "ON d.id = r.department_id")).all())
        proofs = conn.execute(text("SELECT holder_id, data FROM licenses WHERE type_code = :code"),
                              {"code": NO_ARREARS}).all()
        sourced = conn.execute(text("SELECT count(*) FROM audit_entries WHERE kind = 'exchange.query' "
                                    "AND data LIKE '%social_security.employers%'")).scalar()
    engine.dispose()
    social = (tmp_path / "var" / "sqlite-sources" / "social_security.db").resolve()
    household = f"http://127.0.0.1:{env['HUB_DEMO_HOUSEHOLD_PORT']}"
    assert rules == {("11990100MB00000435", household),  # exactly the demo systems, where the settings put them
                     ("11990100MB00000510", f"sqlite:///{social}")}
    _assert_issued_from_the_source(social, proofs, sourced)
    sample = next(line for line in second.stdout.splitlines() if line.startswith("HUB1:"))
    served = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--demo-systems"],
                              env=env | {"HUB_DEMO_IDENTITY": "true"}, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # 60 s bounds a hung server; it is not a speed target (on a loaded machine a first call took over 5 s)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            _wait_ready(http)
            assert http.post("/verify", json={"qr": sample}).json()["status"] == "valid"
            market = credentials["departments"]["market"]
            token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(market["client_id"], market["client_secret"]))
            assert token.status_code == 200
            assert http.get("/docs").status_code == 200
            fingerprint = http.get("/trust-anchor").json()["fingerprint_sha256"]
            assert f"  {fingerprint}\n" in second.stdout  # `hub demo` (make run) printed the root to pin
            assert http.get("/ready").json()["status"] == "ok"
            _demo_exchange(http, credentials)
    finally:
        os.killpg(served.pid, signal.SIGTERM)
        served.wait(timeout=10)


def _assert_issued_from_the_source(social_db: Path, proofs: list, sourced: int) -> None:
    """The demo's no-wage-arrears proofs hold what the social-security source says, read through the exchange."""
    engine = create_engine(f"sqlite:///{social_db}")
    with engine.connect() as conn:
        employees = dict(conn.execute(text("SELECT credit_code, insured_employees FROM employers")).all())
    engine.dispose()
    assert len(proofs) == 3 and sourced >= 3
    for holder_id, data in proofs:
        assert json.loads(data)["employees"] == employees[holder_id]


def _demo_exchange(http: httpx.Client, credentials: dict) -> None:
    """The demo's sources answer through the exchange: REST (户籍), bulk-imported (婚姻) and SQL (社保) for issuance."""
    def headers(key: str) -> dict:
        dept = credentials["departments"][key]
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(dept["client_id"], dept["client_secret"])).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    assert {s["id"] for s in http.get("/sources", headers=headers("market")).json()} == {
        "household.residents", "social_security.insured", "social_security.employers", "civil.marriage"}
    citizen = person(0)
    deadline = time.monotonic() + 20  # the household registry starts beside the hub
    while True:
        answer = http.post("/exchange/household.residents/query", headers=headers("civil_affairs"), json={
            "subject": citizen.id, "fields": ["name", "address"], "purpose": "婚姻登记核验当事人户籍信息"})
        if answer.status_code != 502 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["record"]["name"] == citizen.name
    for purpose, status in (("企业设立登记：核验法定代表人户籍信息", 200), ("随便看看", 403), ("x", 403)):
        stated = http.post("/exchange/household.residents/query", headers=headers("market"), json={
            "subject": citizen.id, "fields": ["name"], "purpose": purpose})
        assert stated.status_code == status, stated.text
    assert stated.json()["type"] == "urn:hub:problem:purpose_not_granted"
    married = http.post("/exchange/civil.marriage/query", headers=headers("natural_resources"), json={
        "subject": citizen.id, "fields": ["marital_status"], "purpose": "不动产登记核验婚姻状况"})
    assert married.json()["record"] == {"marital_status": "已婚"}, married.text
    proof = http.post("/licenses", headers=headers("human_resources"), json={
        "type": NO_ARREARS, "holder": company(0).model_dump(), "from_source": True})
    assert proof.status_code == 201, proof.text
    token = http.post("/demo/identity/token", json={"resident_id": citizen.id}).json()["access_token"]
    log = http.get("/me/access-log", headers={"Authorization": f"Bearer {token}"}).json()
    assert any(item["source_id"] == "household.residents" for item in log["items"]), log


def _wait_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("hub serve did not come up within 30 s")
