"""POST /verify and GET /health under load, each against the baseline app (bench/baseline.py) in the same run.

`python -m bench.http_load [--quick] [--workers N ...] [--duration S] [--markdown]` runs this step alone on a SQLite
site; `python -m bench` runs it with everything else. For every worker count the hub and the baseline are served
by the same uvicorn command line and loaded by the same generator, one endpoint after the other.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import base45
import cbor2
import httpx
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.progress import Progress

from bench.baseline import KEY_VARIABLE
from bench.exchange import started, timed
from bench.loadgen import LoadSpec
from bench.results import EndpointLoad, HttpRow, Results
from bench.server import Served, free_port, running, running_hub, uvicorn_command
from bench.site import Prepared, trust_list

if TYPE_CHECKING:
    from bench.cli import Plan

BASELINE_FACTORY = "bench.baseline:create_app"
_KID = 4  # RFC 9052 §3.1: the kid header label


def timed_load(progress: Progress, plan: Plan, server: Served, label: str, **request: str) -> EndpointLoad:
    """Run one timed load of the plan's size against the server, noting the CPU time the server spends."""
    spec = LoadSpec(port=urlsplit(server.base_url).port, connections=plan.connections, duration=plan.http_seconds,
                    warmup=plan.warmup, **request)
    return timed(progress, label, spec, server)


def check_verify(base_url: str, body: str) -> None:
    """Refuse to load a server's /verify unless one request says the demo QR is valid."""
    response = httpx.post(f"{base_url}/verify", content=body, headers={"Content-Type": "application/json"})
    if response.status_code != 200 or response.json().get("valid") is not True:
        raise RuntimeError(f"POST /verify does not accept the demo QR: {response.status_code} {response.text[:300]}")


def issuer_key_pem(prepared: Prepared) -> str:
    """Return the PEM public key of the issuer that signed the demo QR, read from the hub's trust list."""
    cose = cbor2.loads(base45.b45decode(prepared.sample_qr.removeprefix("HUB1:")))
    kid = cbor2.loads(cose.value[0])[_KID]
    key = trust_list(prepared.site).issuers[kid].public_key
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def running_baseline(prepared: Prepared, key_pem: str, workers: int) -> AbstractContextManager[Served]:
    """Serve the baseline app with the hub's uvicorn command line on a free port."""
    port = free_port()
    env = prepared.site.process_env() | {KEY_VARIABLE: key_pem}
    return running(uvicorn_command(port, workers, BASELINE_FACTORY), env, f"http://127.0.0.1:{port}",
                   prepared.site.root / f"baseline-{workers}w.log", probe="/")


def measure_http(prepared: Prepared, plan: Plan, progress: Progress, server: Served, workers: int,
                 key_pem: str) -> HttpRow:
    """Load the hub's POST /verify and GET /health, and the baseline's POST /verify and GET /, in turn."""
    body = json.dumps({"qr": prepared.sample_qr})
    check_verify(server.base_url, body)
    with started(progress, f"Starting the baseline app, {workers} worker(s)",
                 running_baseline(prepared, key_pem, workers)) as baseline:
        check_verify(baseline.base_url, body)
        verify = timed_load(progress, plan, server, f"POST /verify, {workers} worker(s)", method="POST",
                            path="/verify", body=body)
        baseline_verify = timed_load(progress, plan, baseline, f"Baseline POST /verify, {workers} worker(s)",
                                     method="POST", path="/verify", body=body)
        health = timed_load(progress, plan, server, f"GET /health, {workers} worker(s)", method="GET",
                            path="/health")
        baseline_get = timed_load(progress, plan, baseline, f"Baseline GET /, {workers} worker(s)", method="GET",
                                  path="/")
    return HttpRow(workers=workers, connections=plan.connections, verify=verify, health=health,
                   baseline_verify=baseline_verify, baseline_get=baseline_get)


def run_alone(plan: Plan, progress: Progress, results: Results, root: Path) -> None:
    """Run only the HTTP loads, on a SQLite site, for each worker count of the plan."""
    from bench import cli  # imports this module: bound late

    prepared = cli.prepare(progress, root / "sqlite")
    key_pem = issuer_key_pem(prepared)
    for workers in plan.workers:
        with started(progress, f"Starting uvicorn with {workers} worker(s)",
                     running_hub(prepared.site, workers)) as server:
            results.http.append(measure_http(prepared, plan, progress, server, workers, key_pem))
    cli.note_errors(results)


def main(argv: list[str] | None = None) -> int:
    """Run the HTTP step alone and print its figures (the options of `python -m bench`)."""
    from bench import cli

    return cli.run_part(argv, "HTTP benchmark", run_alone, lambda results: results.http)


if __name__ == "__main__":
    raise SystemExit(main())
