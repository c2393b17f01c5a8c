"""The operator's command line: `hub init`, `hub demo`, `hub serve`."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from hub.core.settings import Settings, write_secret_json
from hub.audit.cli import app as audit_app
from hub.batch.cli import app as batch_app
from hub.keys_cli import app as keys_app
from hub.registry.egress_cli import app as connectors_app

app = typer.Typer(help="政务数据共享与电子证照交换枢纽 — exchange hub operator commands", no_args_is_help=True)
console = Console()
app.add_typer(keys_app, name="keys")
app.add_typer(connectors_app, name="connectors")  # hub connectors allow DEPT TARGET | list | revoke RULE
app.add_typer(audit_app, name="audit")  # hub audit verify
app.add_typer(batch_app)  # hub issue-batch FILE, hub worker


@app.command()
def init() -> None:
    """Create the database schema, the root CA, the token key and (once) an operator client."""
    from hub.bootstrap import initialise

    settings = Settings()
    credentials = initialise(settings)
    if credentials is None:
        console.print("[green]Already initialised.[/green] Operator client exists; its secret is not shown again.")
        return
    path = settings.var_dir / "operator-credentials.json"
    write_secret_json(path, credentials)
    console.print(f"[green]Initialised.[/green] Operator client [bold]{credentials['client_id']}[/bold]; "
                  f"secret written to {path} (shown once).")


@app.command()
def demo() -> None:
    """Load demo departments and licenses (idempotent) and write var/demo/credentials.json."""
    from hub.demo import load_demo

    settings = Settings()
    _check_license_types(settings)
    summary = load_demo(settings, console=console)
    console.print(f"Demo credentials: [bold]{summary.credentials_path}[/bold]")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to bind"),
          port: int = typer.Option(None, help="port (default HUB_PORT or 8000)"),
          workers: int = typer.Option(1, help="uvicorn worker processes"),
          demo_systems: bool = typer.Option(False, help="also run the demo household registry (户籍) on :8101")) -> None:
    """Serve the hub with uvicorn."""
    import uvicorn

    settings = Settings()
    _check_license_types(settings)
    port = port or settings.port
    os.environ["HUB_PORT"] = str(port)  # the app (in each worker) knows its own port: no connector may reach it
    if demo_systems:
        _start_demo_systems()
    console.print(f"Hub on http://{host}:{port}  ·  API docs http://{host}:{port}/docs  ·  "
                  f"verify: POST http://{host}:{port}/verify")
    uvicorn.run("hub.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)


@app.command("import-source")
def import_source(source_id: str = typer.Argument(..., help="a bulk source of the catalogue, e.g. civil.marriage"),
                  path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, JSONL or XLSX file"),
                  fmt: str = typer.Option(None, "--format", help="csv | jsonl | xlsx (default: from the suffix)")
                  ) -> None:
    """Import a file into a bulk source (归集), upserting by subject; bad rows are listed with their lines."""
    from datetime import datetime, timezone

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hub.audit.service import audit_pepper
    from hub.core.db import make_engine, make_session_factory
    from hub.core.errors import HubError
    from hub.registry.imports import audit_import, import_into_source
    from hub.registry.sources import get_source

    settings = Settings()
    engine = make_engine(settings.resolved_database_url())
    factory = make_session_factory(engine)
    fmt = fmt or {".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}.get(path.suffix.lower(), "csv")
    now = datetime.now(timezone.utc)
    try:
        with factory() as session:
            source = get_source(session, source_id)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task(f"归集 {source.name}", total=None)
            report = import_into_source(engine, source, str(path), fmt=fmt, now=now,
                                        progress=lambda done, total: progress.update(task, completed=done, total=total))
        with factory.begin() as session:
            audit_import(session, source, report, actor="operator", pepper=audit_pepper(settings.passphrase()), now=now)
    except HubError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(code=2) from None
    for error in report.errors[:20]:
        console.print(f"  line {error.line}: {error.message}", markup=False)
    console.print(f"{report.imported:,} records imported into {source_id}, {report.failed:,} bad rows "
                  f"(of {report.total:,}).")
    raise typer.Exit(code=1 if report.failed else 0)


def _start_demo_systems() -> None:
    """Run the demo household registry beside the hub; it stops when the hub stops."""
    import atexit
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "demo_systems.household", "--port", "8101"])
    atexit.register(process.terminate)
    console.print("Demo household registry (户籍, REST) on http://127.0.0.1:8101")


def _check_license_types(settings: Settings) -> None:
    """Stop with the loader's message (file and field) when a license type definition is broken."""
    from hub.licenses.types import LicenseTypeError, load_license_types

    try:
        load_license_types(Path(settings.license_types_dir))
    except LicenseTypeError as exc:
        console.print(f"[red]Cannot start: broken license type definition[/red]\n{exc}", markup=True)
        raise typer.Exit(code=2) from None


if __name__ == "__main__":
    app()
