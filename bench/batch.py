"""Batch issuance end to end: a 10,000-row CSV posted over HTTP, issued by the batch worker; prints rows/s.

`python -m bench.batch [--rows 10000] [--backend sqlite|postgresql]`. The hub runs in this process
(uvicorn on a loopback port, the in-process batch worker beside it), over the demo data of a
throw-away site; the client is `hub issue-batch`'s own submit-and-follow loop.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from bench.server import free_port
from bench.site import HubSite, load_site, postgres_admin_url, scratch_postgres
from hub.batch.cli import submit_and_follow
from hub.core.national_ids import make_credit_code
from hub.demo.data import BUSINESS
from hub.main import create_app

FIRST_SEED = 50_000_000  # other benchmarks use 12_340_000 + i and 40_000_000 + i


def batch_csv(rows: int, run: str) -> bytes:
    """Return a CSV of business licenses for the market department, one fresh company per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "type", "holder_id_type", "holder_id", "holder_name", "data.legal_representative",
                     "data.enterprise_type", "data.registered_capital", "data.established", "data.address",
                     "data.business_scope"])
    for i in range(rows):
        writer.writerow([f"{run}-{i}", BUSINESS, "credit_code", make_credit_code(FIRST_SEED + i, region="990100"),
                         "福州闽江数字科技有限公司", "林建华", "有限责任公司", "500万元", "2015-03-15",
                         "示例市鼓楼区五四路100号", "软件开发"])
    return buffer.getvalue().encode()


def wired_app(site: HubSite):
    """The hub app of the site (create_app wires the batch router and worker)."""
    return create_app(site.settings())


def serve(app, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread


def run(rows: int, backend: str, console: Console, s3: tuple[str, str, str] | None = None) -> float:
    """Issue one batch of `rows` rows; return rows per second from upload to the job's end."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-batch-")))
        database = stack.enter_context(scratch_postgres(postgres_admin_url())) if backend == "postgresql" else None
        site = HubSite(root=root, port=free_port(), database_url=database, s3=s3)
        prepared = load_site(site)
        server, thread = serve(wired_app(site), site.port)
        try:
            body = batch_csv(rows, f"bench-{int(time.time())}")
            client_id, client_secret = prepared.market_client
            with httpx.Client(base_url=site.base_url, timeout=300) as http:
                started = time.perf_counter()
                job = submit_and_follow(http, body, "csv", client_id=client_id, client_secret=client_secret,
                                        out=console, poll=0.1)  # finer than the CLI's 0.5 s: batches take seconds
                seconds = time.perf_counter() - started
        finally:
            server.should_exit = True
            thread.join(timeout=60)
    if job["status"] != "completed" or job["failed"]:
        raise RuntimeError(f"the batch did not complete cleanly: {job['status']}, {job['failed']} failed")
    rate = job["done"] / seconds
    console.print(f"batch, {backend}: {job['done']} rows ({len(body) / 1e6:.1f} MB CSV) in {seconds:.1f} s "
                  f"= [bold]{rate:.1f} rows/s[/bold]")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    run(args.rows, args.backend, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
