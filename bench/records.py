"""Signed record + QR text per second: `issue_many` in this process, one transaction per 500-row chunk.

`python -m bench.records [--rows 10000] [--backend sqlite|postgresql]`. What the batch worker does for
each chunk of a batch file (numbering, status list indexes, COSE signature, QR text, the rows and
idempotency records), without the HTTP upload, the CSV parsing and the job bookkeeping around it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from bench.issuance import business_license_request, credit_codes
from bench.server import free_port
from bench.site import HubSite, load_site, postgres_admin_url, scratch_postgres
from hub.auth.tokens import Principal
from hub.licenses.many import issue_many
from hub.licenses.models import LicenseIssue
from hub.main import create_app
from hub.departments.service import find_department_by_code

CHUNK = 500
MARKET_CODE = "11990100MB0000019L"
FIRST_SEED = 70_000_000  # other benchmarks use 12_340_000, 40_000_000 and 50_000_000 onwards


def run(rows: int, backend: str, s3: tuple[str, str, str] | None = None) -> tuple[float, float]:
    """Issue `rows` records in chunks on a fresh demo site; return (records per second, CPU ms per record)."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-records-")))
        database = stack.enter_context(scratch_postgres(postgres_admin_url())) if backend == "postgresql" else None
        site = HubSite(root=root, port=free_port(), database_url=database, s3=s3)
        prepared = load_site(site)
        app = create_app(site.settings())
        stack.callback(app.state.services.engine.dispose)
        state = app.state.services
        with state.session_factory() as session:
            department = find_department_by_code(session, MARKET_CODE)
        principal = Principal(client_id=prepared.market_client[0], role="department", department_id=department.id,
                              scopes=frozenset({"licenses:issue"}))
        codes = credit_codes(FIRST_SEED)
        requests = [(LicenseIssue.model_validate(business_license_request(next(codes))), f"records-{i}")
                    for i in range(rows)]
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, rows, CHUNK):
            with state.session_factory.begin() as session:
                outcomes = issue_many(session, requests[start:start + CHUNK], principal=principal,
                                      types=state.license_types, keyring=state.keyring, now=state.clock())
            if any(outcome.error for outcome in outcomes):
                raise RuntimeError(f"issue_many failed: {next(o.error for o in outcomes if o.error)}")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return rows / seconds, cpu / rows * 1000


def records_row(rows: int, backend: str, s3: tuple[str, str, str] | None = None) -> tuple[str, str, str]:
    """Run the measurement and return it as a summary row (measurement, setup, result)."""
    rate, cpu_ms = run(rows, backend, s3)
    setup = f"{rows:,} records, {CHUNK}-row chunks, {'PostgreSQL' if backend == 'postgresql' else 'SQLite'}"
    return "Signed record + QR text", setup, f"{rate:,.0f}/s (issue_many in-process; {cpu_ms:.2f} ms CPU each)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    rate, cpu_ms = run(args.rows, args.backend)
    Console().print(f"signed record + QR text, {args.backend}: [bold]{rate:,.0f} records/s[/bold] "
                    f"({cpu_ms:.2f} ms CPU each in this process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
