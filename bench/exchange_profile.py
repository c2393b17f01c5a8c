"""Where a 1-worker hub spends its CPU per exchange query: py-spy GIL samples under load, grouped by category.

`python -m bench.exchange_profile [--postgres] [--quick] [--connections N] [--duration S] [--raw FILE]` loads a hub the
way `python -m bench.exchange` does while `py-spy record --gil` samples it (py-spy ships as a wheel: `pip install
py-spy`). Only samples of the thread holding the GIL are kept, so the shares are of Python-level CPU; C code that
releases the GIL (SQLite's engine, socket syscalls) is in the measured CPU but not in the samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import Progress
from rich.table import Table

from bench.exchange import (FIELDS, REQUESTER, check_answer, household_service, hub_spec, register_source, started,
                            timed)
from bench.issuance import department_token
from bench.results import EndpointLoad
from bench.server import running_hub
from bench.site import postgres_admin_url, scratch_postgres
from bench.ui import make_progress
from demo_systems.population import people

if TYPE_CHECKING:
    from bench.cli import Plan

RATE = 100  # samples per second; py-spy falls behind above this on a busy 2-core machine
# (category, substrings of a frame): the first category with a frame on the stack takes the sample.
CATEGORIES = [
    ("audit sequencer (background thread)", ("AuditLog._run",)),
    ("audit writer: group commit (background thread)", ("AuditWriter._run",)),
    ("receipt signing (ES256 JWS)", ("ReceiptSigner.sign",)),
    ("JWT check (current_principal)", ("current_principal",)),
    ("authorise: cached grant, or the database", ("ExchangeDesk._cached_plan", "ExchangeDesk._fresh_plan",
                                                  "plan_query")),
    ("answer, hashes, audit row", ("answer_and_event", "entry_row", "finish_answer", "GroupCommitSink.append", "AuditWriter.commit")),
    ("connector: aiohttp GET to the source", ("Connections.fetch", "RestConnector", "aiohttp/")),
    ("request body, response model and JSON", ("parse_body", "model_dump_json", "Request.body")),
    ("thread-pool hand-offs (anyio)", ("anyio/", "run_in_threadpool", "contextmanager_in_threadpool")),
    ("FastAPI/Starlette/uvicorn: routing, middleware, HTTP", ("fastapi/", "starlette/", "uvicorn/",
                                                              "hub/core/http.py")),
]


def categorise(raw: str) -> Counter:
    """Count py-spy raw samples ("frame;frame;... count" lines) by category."""
    counts: Counter = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            name = next((name for name, keys in CATEGORIES if any(key in stack for key in keys)), "other")
            counts[name] += int(count)
    return counts


def profile_table(counts: Counter, measured: EndpointLoad, connections: int, backend: str) -> Table:
    """Return the categories with their share of GIL samples and that share of the measured CPU per query."""
    total, cpu_us = sum(counts.values()), measured.cpu_us_per_request
    load = measured.load
    table = Table(title=f"Hub CPU per exchange query, {backend}, 1 worker, {connections} connection(s): "
                        f"{load.rps:,.0f} queries/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
                  caption=f"{total:,} GIL samples; µs/query = share × measured server CPU "
                          f"({'n/a' if cpu_us is None else f'{cpu_us:,.0f}'} µs/query)")
    for header in ("where", "share", "≈ µs/query"):
        table.add_column(header, justify="left" if header == "where" else "right")
    for name, count in counts.most_common():
        share = count / total if total else 0.0
        table.add_row(name, f"{share:.1%}", "n/a" if cpu_us is None else f"{share * cpu_us:,.0f}")
    return table


def profile(plan: Plan, progress: Progress, root: Path, raw_path: Path,
            database_url: str | None = None) -> tuple[Counter, EndpointLoad]:
    """Load a 1-worker hub with exchange queries while py-spy samples it; return categories and the load."""
    from bench import cli

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    prepared = cli.prepare(progress, root / "site", database_url)
    backend = "PostgreSQL" if database_url else "SQLite"
    person = next(iter(people(1)))
    household = household_service(root / "household", plan.household_records)
    with started(progress, "Starting the household registry (户籍) service", household) as source, \
            started(progress, f"Starting uvicorn, {backend}, 1 worker", running_hub(prepared.site, 1)) as server:
        register_source(server.base_url, prepared.clients, source.base_url)
        token = department_token(server.base_url, prepared.clients[REQUESTER])
        spec = hub_spec(server.base_url, token, person.resident_id, plan.connections, plan)
        check_answer(spec, {f: person.record()[f] for f in FIELDS})
        command = [spy, "record", "--pid", str(server.pgid), "--gil", "--nonblocking", "--rate", str(RATE),
                   "--duration", str(int(plan.warmup + plan.http_seconds)), "--format", "raw", "--output",
                   str(raw_path)]
        sampler = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        measured = timed(progress, "POST /exchange/…/query under py-spy", spec, server)
        _, err = sampler.communicate(timeout=60)
    if sampler.returncode != 0 or not raw_path.exists():
        raise RuntimeError(f"py-spy failed ({sampler.returncode}): {err.decode(errors='replace')[-300:]}")
    return categorise(raw_path.read_text()), measured


def main(argv: list[str] | None = None) -> int:
    """Profile the hub under exchange load and print where its CPU goes."""
    from bench import cli

    parser = argparse.ArgumentParser(prog="python -m bench.exchange_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples in this file")
    parser.add_argument("--postgres", action="store_true", help="profile a hub on a scratch PostgreSQL database")
    args, rest = parser.parse_known_args(argv)
    plan, _ = cli.parse_args(rest)
    plan = replace(plan, http_seconds=max(plan.http_seconds, 5.0))
    console = cli.make_console()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp, make_progress(console) as progress, \
            ExitStack() as stack:
        url = stack.enter_context(scratch_postgres(postgres_admin_url())) if args.postgres else None
        counts, measured = profile(plan, progress, Path(tmp), args.raw or Path(tmp) / "py-spy.txt", url)
    console.print(profile_table(counts, measured, plan.connections, "PostgreSQL" if args.postgres else "SQLite"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
