"""`python -m bench [--quick] [--markdown]`: run every benchmark once and print the figures."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from sqlalchemy.exc import SQLAlchemyError

from bench import report
from bench.batch import run as run_batch
from bench.bulk_import import run as run_bulk_import
from bench.exchange import exchange_notes, exchange_rows
from bench.issuance import credit_codes, issuance, warm_up
from bench.http_load import issuer_key_pem, measure_http
from bench.records import records_row
from bench.offline import offline_rates, qr_size
from bench.results import IssueRow, Results
from bench.server import Served, ServerError, free_port, running_hub
from bench.site import HubSite, Prepared, load_site, postgres_admin_url, scratch_postgres, trust_list
from bench.status import status_rows
from bench.ui import make_progress, step


@dataclass(frozen=True)
class Plan:
    """Durations and sizes of one run."""

    cpu_seconds: float = 3.0  # each offline timing loop
    http_seconds: float = 10.0  # each load, after warm-up
    warmup: float = 1.0
    connections: int = 32
    workers: tuple[int, ...] = (1, 2)
    issue_seconds: float = 5.0  # each issuance run
    issue_clients: int = 8
    max_issues: int = 5000
    postgres: bool = True
    batch_rows: int = 10_000
    import_rows: int = 1_000_000  # bulk import (归集) into PostgreSQL
    exchange: bool = True  # exchange queries through the hub vs the household service directly
    household_records: int = 20_000  # records the household service holds
    label: str = "full"


QUICK = Plan(label="quick", cpu_seconds=0.5, http_seconds=2.0, warmup=0.5, issue_seconds=1.5, max_issues=500,
             batch_rows=500, import_rows=50_000)


def parse_args(argv: list[str] | None) -> tuple[Plan, bool]:
    """Return the plan the command line asks for, and whether to print Markdown."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run every hub benchmark once.",
                                     epilog="Parts alone, same options: python -m bench.http_load (POST /verify and "
                                            "GET /health against the baseline app), python -m bench.exchange.")
    parser.add_argument("--quick", action="store_true", help="short durations, for a smoke run")
    parser.add_argument("--markdown", action="store_true", help="also print the summary as a Markdown table")
    parser.add_argument("--connections", type=int, help="concurrent connections of the HTTP load (default 32)")
    parser.add_argument("--duration", type=float, help="seconds of each HTTP load (default 10, quick 2)")
    parser.add_argument("--workers", type=int, nargs="+", help="uvicorn worker counts to load (default 1 2)")
    parser.add_argument("--no-postgres", action="store_true", help="skip issuance on PostgreSQL")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    overrides = {"connections": args.connections, "http_seconds": args.duration,
                 "workers": tuple(args.workers) if args.workers else None}
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_postgres:
        plan = replace(plan, postgres=False)
    return plan, args.markdown


def measure_offline(prepared: Prepared, plan: Plan, progress: Progress, results: Results) -> None:
    """QR size and offline verify() against the raw signature check."""
    results.qr = qr_size(prepared.sample_qr)
    with step(progress, "Loading the trust list"):
        trust = trust_list(prepared.site)
    total = 3 * plan.cpu_seconds  # three workloads, cpu_seconds each
    with step(progress, "Offline: raw signature check, verify(), decode_qr()", total) as tick:
        results.offline = offline_rates(prepared.sample_qr, trust, plan.cpu_seconds, tick)


def measure_issuance(prepared: Prepared, plan: Plan, progress: Progress, server: Served, backend: str,
                     codes: Iterator[str]) -> list[IssueRow]:
    """Issue licenses over HTTP sequentially, then with several clients (after an untimed warm-up)."""
    warm_up(server.base_url, prepared.market_client, clients=plan.issue_clients, codes=codes)
    rows = []
    for clients in (1, plan.issue_clients):
        label = f"POST /licenses, {backend}, {clients} client(s)"
        with step(progress, label, plan.issue_seconds) as tick:
            before = server.cpu_seconds()
            result = issuance(server.base_url, prepared.market_client, clients=clients,
                              seconds=plan.issue_seconds, max_issues=plan.max_issues, codes=codes, tick=tick)
            after = server.cpu_seconds()
        rows.append(IssueRow(backend, result, None if before is None or after is None else after - before))
    return rows


@contextmanager
def serving(prepared: Prepared, progress: Progress, workers: int) -> Iterator[Served]:
    """Serve the prepared site with uvicorn for the block, showing the start as a step."""
    with ExitStack() as stack:
        with step(progress, f"Starting uvicorn with {workers} worker(s)"):
            server = stack.enter_context(running_hub(prepared.site, workers))
        yield server


def prepare(progress: Progress, root: Path, database_url: str | None = None,
            s3: tuple[str, str, str] | None = None) -> Prepared:
    """Create a site under root on a free port and load the demo into it."""
    site = HubSite(root=root, port=free_port(), database_url=database_url, s3=s3)
    with step(progress, f"Loading the demo ({'PostgreSQL' if database_url else 'SQLite'})"):
        return load_site(site)


def sqlite_benchmarks(plan: Plan, progress: Progress, results: Results, root: Path) -> None:
    """Everything that runs on the SQLite site: offline figures, HTTP loads, issuance."""
    prepared = prepare(progress, root / "sqlite")
    measure_offline(prepared, plan, progress, results)
    codes, key_pem = credit_codes(), issuer_key_pem(prepared)
    for workers in plan.workers:
        with serving(prepared, progress, workers) as server:
            results.http.append(measure_http(prepared, plan, progress, server, workers, key_pem))
            if workers == min(plan.workers):  # issuance shares the first server
                results.issuance.extend(measure_issuance(prepared, plan, progress, server, "SQLite", codes))
    measure_exchange(prepared, plan, progress, results, "SQLite")


def postgres_benchmarks(plan: Plan, progress: Progress, results: Results, root: Path) -> None:
    """Issuance on a scratch PostgreSQL database, dropped afterwards; a note instead if it cannot run."""
    try:
        with scratch_postgres(postgres_admin_url()) as url, seaweedfs(progress, root) as s3:
            prepared = prepare(progress, root / "postgres", url, s3)
            with serving(prepared, progress, 1) as server:
                rows = measure_issuance(prepared, plan, progress, server, "PostgreSQL + SeaweedFS", credit_codes())
            results.issuance.extend(rows)
            measure_exchange(prepared, plan, progress, results, "PostgreSQL")
            with step(progress, f"Batch of {plan.batch_rows:,} rows, PostgreSQL + SeaweedFS"):
                rate = run_batch(plan.batch_rows, "postgresql", Console(quiet=True), s3=s3)
            results.extra.append(("Batch issuance", f"{plan.batch_rows:,}-row CSV, PostgreSQL + SeaweedFS",
                                  f"{rate:,.1f} rows/s end to end (records; artifacts render on request)"))
            with step(progress, f"Signed record + QR text, {plan.batch_rows:,} records, PostgreSQL"):
                results.extra.append(records_row(plan.batch_rows, "postgresql"))
    except (OSError, ValueError, SQLAlchemyError, ServerError) as error:
        results.notes.append(f"PostgreSQL issuance skipped: {type(error).__name__}: {str(error).splitlines()[0]}")


def measure_import(plan: Plan, progress: Progress, results: Results) -> None:
    """Bulk-import a synthetic CSV into a scratch PostgreSQL database; a note instead if it cannot run."""
    try:
        results.bulk_import = run_bulk_import(plan.import_rows, progress.console, progress)
    except (OSError, ValueError, SQLAlchemyError, RuntimeError) as error:
        results.notes.append(f"Bulk import skipped: {type(error).__name__}: {str(error).splitlines()[0]}")


def measure_exchange(prepared: Prepared, plan: Plan, progress: Progress, results: Results, backend: str) -> None:
    """Exchange queries through the hub and the source directly, per worker count; a note instead if it fails."""
    if not plan.exchange:
        return
    try:
        rows = exchange_rows(prepared, plan, progress, backend)
    except (OSError, RuntimeError, httpx.HTTPError) as error:
        results.notes.append(f"Exchange on {backend} skipped: {type(error).__name__}: {str(error).splitlines()[0]}")
        return
    results.exchange.extend(rows)
    results.notes.extend(exchange_notes(rows))


@contextmanager
def seaweedfs(progress: Progress, root: Path) -> Iterator[tuple[str, str, str]]:
    """Run a SeaweedFS S3 server on loopback for the block (the tests' helper)."""
    from tests.support.seaweed import start_seaweedfs, stop_seaweedfs

    with step(progress, "Starting SeaweedFS (S3)"):
        server = start_seaweedfs(root / "seaweedfs")
    try:
        yield server.endpoint, server.access_key, server.secret_key
    finally:
        stop_seaweedfs(server)


def note_errors(results: Results) -> None:
    """Add a note for every measurement that saw failed requests."""
    for row in results.http:
        for name, load in (("POST /verify", row.verify.load), ("GET /health", row.health.load),
                           ("baseline POST /verify", row.baseline_verify.load), ("baseline GET /", row.baseline_get.load)):
            if load.errors:
                results.notes.append(f"{name}, {row.workers} worker(s): {load.errors} errors, statuses {load.statuses}")
    for row in results.issuance:
        if row.result.errors:
            results.notes.append(f"POST /licenses, {row.backend}, {row.result.clients} client(s): "
                                 f"{row.result.errors} errors, first: {row.result.first_error}")


def run(plan: Plan, console: Console) -> Results:
    """Run every benchmark of the plan in one temporary directory."""
    results = Results(environment=report.environment())
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp, make_progress(console) as progress:
        sqlite_benchmarks(plan, progress, results, Path(tmp))
        with step(progress, f"Batch of {plan.batch_rows:,} rows, SQLite"):
            rate = run_batch(plan.batch_rows, "sqlite", Console(quiet=True))
        results.extra.append(("Batch issuance", f"{plan.batch_rows:,}-row CSV, SQLite + files",
                              f"{rate:,.1f} rows/s end to end (records; artifacts render on request)"))
        with step(progress, f"Signed record + QR text, {plan.batch_rows:,} records, SQLite"):
            results.extra.append(records_row(plan.batch_rows, "sqlite"))
        with step(progress, "Status lists: 1M licenses", None):
            results.extra.extend(status_rows(plan.cpu_seconds))
        if plan.postgres:
            postgres_benchmarks(plan, progress, results, Path(tmp))
            measure_import(plan, progress, results)
    note_errors(results)
    return results


def print_results(console: Console, results: Results, *, markdown: bool) -> None:
    """Print the detailed tables, the summary table and, if asked, the Markdown summary."""
    console.print()
    for table in report.detail_tables(results):
        console.print(table)
    console.print(report.summary_table(results))
    for note in results.notes:
        console.print(f"[yellow]Note:[/] {note}")
    if markdown:
        console.print()
        console.print(report.markdown(results), markup=False, highlight=False, soft_wrap=True)


def make_console() -> Console:
    """Return a console; one that is not a terminal gets room for the widest table."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 132))


def run_part(argv: list[str] | None, title: str, run_alone: Callable[[Plan, Progress, Results, Path], None],
             measured: Callable[[Results], list]) -> int:
    """Run one step alone with the options of `python -m bench` and print its figures; 1 if it measured nothing."""
    plan, markdown = parse_args(argv)
    console = make_console()
    console.print(f"[bold]{title}[/] ({plan.label} run)")
    results = Results(environment=report.environment())
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp, make_progress(console) as progress:
        run_alone(plan, progress, results, Path(tmp))
    print_results(console, results, markdown=markdown)
    return 0 if measured(results) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    plan, markdown = parse_args(argv)
    console = make_console()
    console.print(f"[bold]Exchange hub benchmark[/] ({plan.label} run)")
    try:
        results = run(plan, console)
    except RuntimeError as error:  # ServerError, LoadError, a QR that does not verify
        console.print(f"[red]Benchmark failed:[/] {error}", markup=True, highlight=False)
        return 1
    except KeyboardInterrupt:  # servers, temp files and the scratch database are already cleaned up
        console.print("[yellow]Interrupted.[/]")
        return 130
    print_results(console, results, markdown=markdown)
    return 0
