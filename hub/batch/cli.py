"""`hub issue-batch FILE` (submit over the HTTP API, follow with a progress bar) and `hub worker`."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

app = typer.Typer(help="Batch issuance", no_args_is_help=True)
console = Console()
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class BatchCommandError(Exception):
    """The hub refused a request; the message is its problem detail."""


@app.command("issue-batch")
def issue_batch(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV or JSONL file"),
    url: str = typer.Option(None, envvar="HUB_URL", help="hub base URL [default: HUB_PUBLIC_URL]"),
    credentials: Path = typer.Option(None, help="JSON file with client_id and client_secret, or the demo "
                                     "credentials file (var/demo/credentials.json) together with --department"),
    department: str = typer.Option(None, help="department key or code in the demo credentials file, e.g. market"),
    client_id: str = typer.Option(None, envvar="HUB_CLIENT_ID", help="department client id"),
    client_secret: str = typer.Option(None, envvar="HUB_CLIENT_SECRET", help="department client secret"),
    fmt: str = typer.Option(None, "--format", help="csv or jsonl [default: from the file extension]"),
    idempotency_key: str = typer.Option(None, help="[default: the file's SHA-256, so running the same file again "
                                        "returns the same job]"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="follow the job until it ends"),
    show_errors: int = typer.Option(20, help="how many failed rows to print"),
) -> None:
    """Submit a batch file of licenses to issue and follow its job; exit 1 when rows failed."""
    from hub.core.settings import Settings

    fmt = fmt or EXTENSIONS.get(file.suffix.lower())
    if fmt not in MEDIA_TYPES:
        raise typer.BadParameter("use --format csv or --format jsonl", param_hint="--format")
    client_id, client_secret = _credentials(credentials, department, client_id, client_secret)
    data = file.read_bytes()
    key = idempotency_key or f"sha256:{hashlib.sha256(data).hexdigest()}"
    with httpx.Client(base_url=url or Settings().public_url, timeout=120) as http:
        try:
            job = submit_and_follow(http, data, fmt, client_id=client_id, client_secret=client_secret,
                                    idempotency_key=key, wait=wait)
        except (BatchCommandError, httpx.HTTPError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    _report(job, show_errors)
    if job["failed"]:
        raise typer.Exit(1)


def submit_and_follow(http: httpx.Client, data: bytes, fmt: str, *, client_id: str, client_secret: str,
                      idempotency_key: str | None = None, wait: bool = True, poll: float = 0.5,
                      out: Console | None = None) -> dict:
    """Get a token, upload the file, and poll the job with a progress bar until it ends; return the job."""
    out = out or console
    headers = {"Authorization": f"Bearer {_token(http, client_id, client_secret)}",
               "Content-Type": MEDIA_TYPES[fmt]} | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
    job = _checked(http.post("/licenses/batch", content=data, headers=headers))
    out.print(f"Job [bold]{job['id']}[/bold]: {job['total']} rows")
    if not wait:
        return job
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
               TimeRemainingColumn())
    with Progress(*columns, console=out, transient=False) as progress:
        task = progress.add_task("issuing", total=job["total"], failed=0)
        while job["status"] in ("queued", "running"):
            time.sleep(poll)
            job = _checked(http.get(f"/jobs/{job['id']}", params={"limit": 0}, headers=headers))
            progress.update(task, completed=job["done"] + job["failed"], failed=job["failed"])
    return _checked(http.get(f"/jobs/{job['id']}", params={"limit": 1000}, headers=headers))


def _token(http: httpx.Client, client_id: str, client_secret: str) -> str:
    body = _checked(http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)))
    return body["access_token"]


def _checked(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = f"{problem.get('title', '')}: {problem.get('detail', '')}"
        except ValueError:
            detail = response.text[:300]
        raise BatchCommandError(f"{response.request.method} {response.request.url.path} → {response.status_code} {detail}")
    return response.json()


def _credentials(path: Path | None, department: str | None, client_id: str | None,
                 client_secret: str | None) -> tuple[str, str]:
    if client_id and client_secret:
        return client_id, client_secret
    if path is None:
        raise typer.BadParameter("give --client-id and --client-secret, or --credentials", param_hint="--credentials")
    content = json.loads(path.read_text())
    if department:
        found = [d for k, d in content.get("departments", {}).items() if department in (k, d.get("code"))]
        if not found:
            raise typer.BadParameter(f"no department {department!r} in {path}", param_hint="--department")
        content = found[0]
    if "client_id" not in content or "client_secret" not in content:
        raise typer.BadParameter(f"{path} holds no client_id/client_secret (add --department?)",
                                 param_hint="--credentials")
    return content["client_id"], content["client_secret"]


def _report(job: dict, show_errors: int) -> None:
    colour = "green" if job["status"] == "completed" and not job["failed"] else "yellow"
    console.print(f"[{colour}]{job['status']}[/{colour}]: {job['total']} rows, {job['done']} done "
                  f"({job['issued']} newly issued), {job['failed']} failed")
    if job.get("error"):
        console.print(f"[red]{job['error']}[/red]")
    for row in job["errors"][:show_errors]:
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in row.get("errors", []))
        console.print(f"  line {row['line']} ({row['key']}): {row['code']} — {row['detail']}" + (f" [{fields}]" if fields else ""))
    if job["failed"] > show_errors:
        console.print(f"  … and {job['failed'] - show_errors} more (GET /jobs/{job['id']}?offset={show_errors})")


@app.command()
def worker(
    ctx: typer.Context,
    heartbeat: float = typer.Option(10.0, help="seconds between worker heartbeats (PostgreSQL)"),
    stalled_after: float = typer.Option(30.0, help="seconds without a heartbeat after which another worker's "
                                        "job is taken over (PostgreSQL)"),
    poll: float = typer.Option(5.0, help="seconds between looks for new jobs when not notified"),
) -> None:
    """Run a batch worker in the foreground until SIGINT/SIGTERM (procrastinate on PostgreSQL, a thread on SQLite)."""
    import logging

    from hub.core.operator import command_services

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wiring = command_services(ctx, prepare=True)
    console.print(f"Batch worker on {wiring.engine.url.render_as_string(hide_password=True)}", soft_wrap=True)
    wiring.batch.run_worker(wiring.batch_context, heartbeat=heartbeat, stalled_after=stalled_after, poll=poll)
