"""Exchange queries/s through the hub to the loopback household registry, and the hub's overhead over the source.

`python -m bench.exchange [--quick] [--no-postgres] [--markdown]` runs this step alone; `python -m bench` runs it
with everything else; `python -m bench.exchange_profile` shows where the hub's CPU goes. In one run: the household
registry (demo_systems/household.py, its own process, 1 worker) is loaded directly with
`GET /residents/{id}?fields=name,gender`, then through the hub with the same read as `POST /exchange/{id}/query`
under a real grant (公安局 owns the source, 民政局 queries it), at the same connection count and with one
connection. Every request asks for the same subject: the source is a dict lookup and the hub caches nothing per
subject, so one subject costs the same as many.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from rich.progress import Progress
from sqlalchemy.exc import SQLAlchemyError

from bench.issuance import department_token
from bench.load import run_load
from bench.loadgen import LoadSpec
from bench.results import EndpointLoad, ExchangeRow, Results
from bench.server import Served, free_port, running_hub, stop_server, wait_ready
from bench.site import REPO_ROOT, Prepared, postgres_admin_url, scratch_postgres
from bench.ui import step
from demo_systems.population import people
from hub.demo.data import DEPARTMENTS

if TYPE_CHECKING:
    from bench.cli import Plan

SOURCE_ID = "bench.household"
HOUSEHOLD_KEY = "bench-household-key"
FIELDS = ("name", "gender")
PURPOSE = "婚姻登记核验当事人户籍信息"
OWNER, REQUESTER = "public_security", "civil_affairs"  # demo departments: 示例市公安局 owns, 示例市民政局 asks
TIMEOUT = 30.0


@contextmanager
def household_service(root: Path, records: int) -> Iterator[Served]:
    """Run the demo household registry in its own process (1 worker) on a free loopback port."""
    port, log_path = free_port(), root / "household.log"
    command = [sys.executable, "-m", "demo_systems.household", "--port", str(port), "--records", str(records),
               "--api-key", HOUSEHOLD_KEY]
    root.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(process, f"http://127.0.0.1:{port}", log_path)
        yield Served(f"http://127.0.0.1:{port}", process.pid)
    finally:
        stop_server(process)


def source_definition(household_url: str) -> dict:
    """Return the POST /sources body of a REST source on the household service that asks it for listed fields."""
    fields = [{"name": "name", "type": "string", "label": "姓名", "sensitivity": "personal"},
              {"name": "gender", "type": "string", "label": "性别", "sensitivity": "personal"},
              {"name": "birth_date", "type": "date", "label": "出生日期", "sensitivity": "personal"}]
    return {"id": SOURCE_ID, "name": "户籍人口基本信息（基准测试）", "category": "人口信息",
            "subject_key": "resident_id", "sharing_class": "conditional", "update_frequency": "realtime",
            "fields": fields, "connector": {"type": "rest", "config": {
                "url": f"{household_url}/residents/{{subject}}", "fields_param": "fields", "timeout": 3,
                "auth_header": {"name": "X-Api-Key", "value": HOUSEHOLD_KEY}}}}


def _expect(response: httpx.Response, status: int, what: str) -> dict:
    """Return the JSON answer, or raise RuntimeError saying which setup call failed."""
    if response.status_code != status:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def register_source(base_url: str, clients: dict[str, tuple[str, str]], household_url: str) -> None:
    """Approve the household service as the owner's target (operator), register the source as its owner, ask for a
    grant as the requester and approve it as the owner."""
    owner = {"Authorization": f"Bearer {department_token(base_url, clients[OWNER])}"}
    requester = {"Authorization": f"Bearer {department_token(base_url, clients[REQUESTER])}"}
    operator = {"Authorization": f"Bearer {department_token(base_url, clients['operator'])}"}
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as http:
        code = next(code for code, _, key in DEPARTMENTS if key == OWNER)
        _expect(http.post("/egress-rules", json={"department": code, "target": household_url}, headers=operator),
                201, "POST /egress-rules")
        _expect(http.post("/sources", json=source_definition(household_url), headers=owner), 201, "POST /sources")
        grant = _expect(http.post("/grants", json={"source": SOURCE_ID, "fields": list(FIELDS), "purpose": PURPOSE,
                                                   "legal_basis": "《婚姻登记条例》第五条"}, headers=requester),
                        201, "POST /grants")
        _expect(http.post(f"/grants/{grant['id']}/approve", json={"reason": "基准测试"}, headers=owner),
                200, "POST /grants/{id}/approve")


def direct_spec(household_url: str, subject: str, connections: int, plan: Plan) -> LoadSpec:
    """Return the load of the source alone: the read the hub's connector sends."""
    return LoadSpec(port=urlsplit(household_url).port, path=f"/residents/{subject}?fields={','.join(FIELDS)}",
                    headers=(("X-Api-Key", HOUSEHOLD_KEY),), connections=connections, duration=plan.http_seconds,
                    warmup=plan.warmup)


def hub_spec(base_url: str, token: str, subject: str, connections: int, plan: Plan) -> LoadSpec:
    """Return the load of exchange queries through the hub with the requester's token."""
    body = json.dumps({"subject": subject, "fields": list(FIELDS), "purpose": PURPOSE}, ensure_ascii=False)
    return LoadSpec(port=urlsplit(base_url).port, path=f"/exchange/{SOURCE_ID}/query", method="POST", body=body,
                    headers=(("Authorization", f"Bearer {token}"),), connections=connections,
                    duration=plan.http_seconds, warmup=plan.warmup)


def check_answer(spec: LoadSpec, expected: dict) -> None:
    """Send the load's request once; refuse to load unless it answers 200 with the expected record."""
    url = f"http://{spec.host}:{spec.port}{spec.path}"
    headers = dict(spec.headers) | ({"Content-Type": "application/json"} if spec.body else {})  # as loadgen sends
    response = httpx.request(spec.method, url, content=spec.body.encode(), headers=headers, timeout=TIMEOUT)
    answer = response.json() if response.status_code == 200 else {}
    if answer.get("record", answer) != expected:
        raise RuntimeError(f"{spec.method} {spec.path} does not answer the record: {response.status_code} "
                           f"{response.text[:300]}")


def timed(progress: Progress, label: str, spec: LoadSpec, server: Served) -> EndpointLoad:
    """Run one load, noting the CPU time the loaded server spends."""
    with step(progress, label, spec.warmup + spec.duration) as tick:
        before = server.cpu_seconds()
        load = run_load(spec, tick)
        after = server.cpu_seconds()
    return EndpointLoad(load, None if before is None or after is None else after - before)


@contextmanager
def started(progress: Progress, label: str, server: AbstractContextManager[Served]) -> Iterator[Served]:
    """Enter a server's context for the block, showing its start as a step."""
    with ExitStack() as stack:
        with step(progress, label):
            served = stack.enter_context(server)
        yield served


def measure_hub(prepared: Prepared, plan: Plan, progress: Progress, server: Served, subject: str,
                expected: dict, label: str) -> dict[int, EndpointLoad]:
    """Load exchange queries through the hub at the plan's connection count and with one connection."""
    token = department_token(server.base_url, prepared.clients[REQUESTER])  # fresh: tokens live 10 minutes
    specs = {n: hub_spec(server.base_url, token, subject, n, plan) for n in (plan.connections, 1)}
    check_answer(specs[1], expected)
    return {n: timed(progress, f"POST /exchange/…/query, {label}, {n} conn.", spec, server)
            for n, spec in specs.items()}


def exchange_rows(prepared: Prepared, plan: Plan, progress: Progress, backend: str) -> list[ExchangeRow]:
    """Load the household service directly, then through the hub with each worker count of the plan."""
    person = next(iter(people(1)))
    expected = {f: person.record()[f] for f in FIELDS}
    household = household_service(prepared.site.root / "household", plan.household_records)
    rows: list[ExchangeRow] = []
    with started(progress, "Starting the household registry (户籍) service", household) as source:
        specs = {n: direct_spec(source.base_url, person.resident_id, n, plan) for n in (plan.connections, 1)}
        check_answer(specs[1], expected)
        direct = {n: timed(progress, f"Direct GET /residents/…, {backend} run, {n} conn.", spec, source)
                  for n, spec in specs.items()}
        for workers in plan.workers:
            label = f"{backend}, {workers} worker(s)"
            with started(progress, f"Starting uvicorn, {label}", running_hub(prepared.site, workers)) as server:
                if not rows:
                    register_source(server.base_url, prepared.clients, source.base_url)
                hub = measure_hub(prepared, plan, progress, server, person.resident_id, expected, label)
            rows.append(ExchangeRow(backend, workers, plan.connections, hub=hub[plan.connections],
                                    direct=direct[plan.connections], hub_unloaded=hub[1], direct_unloaded=direct[1]))
    return rows


def exchange_notes(rows: list[ExchangeRow]) -> list[str]:
    """Return a note for every exchange load that saw failed requests or non-200 answers."""
    notes, seen = [], set()
    for row in rows:
        for name, measured in ((f"exchange query, {row.backend}, {row.workers} worker(s)", row.hub),
                               (f"exchange query, {row.backend}, {row.workers} worker(s), 1 conn.", row.hub_unloaded),
                               (f"direct household read, {row.backend} run", row.direct),
                               (f"direct household read, {row.backend} run, 1 conn.", row.direct_unloaded)):
            if (measured.load.errors or not measured.load.requests) and id(measured) not in seen:
                seen.add(id(measured))
                statuses = measured.load.statuses or "none: no answer before the window ended (+5 s)"
                notes.append(f"{name}: {measured.load.errors} errors, statuses {statuses}")
    return notes


def run_alone(plan: Plan, progress: Progress, results: Results, root: Path) -> None:
    """Run only this step: on a SQLite site, then on a scratch PostgreSQL database if the plan has it."""
    from bench import cli  # imports this module: bound late

    cli.measure_exchange(cli.prepare(progress, root / "sqlite"), plan, progress, results, "SQLite")
    if plan.postgres:
        try:
            with scratch_postgres(postgres_admin_url()) as url:
                cli.measure_exchange(cli.prepare(progress, root / "postgres", url), plan, progress, results,
                                     "PostgreSQL")
        except (OSError, ValueError, SQLAlchemyError) as error:
            results.notes.append(f"Exchange on PostgreSQL skipped: {type(error).__name__}: {error}")


def main(argv: list[str] | None = None) -> int:
    """Run the exchange step alone and print its figures (the options of `python -m bench`)."""
    from bench import cli

    return cli.run_part(argv, "Exchange benchmark", run_alone, lambda results: results.exchange)


if __name__ == "__main__":
    raise SystemExit(main())
