"""The operator's command line: `hub init`, `hub demo`, `hub serve`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import typer
from rich.console import Console

from hub.core.settings import Settings, write_secret_json
from hub.audit.cli import app as audit_app
from hub.batch.cli import app as batch_app
from hub.trust.cli import app as keys_app
from hub.catalogue.connectors_cli import app as connectors_app

app = typer.Typer(help="政务数据共享与电子证照交换枢纽 — exchange hub operator commands", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
app.add_typer(keys_app, name="keys")
app.add_typer(connectors_app, name="connectors")  # hub connectors allow DEPT TARGET | list | revoke RULE
app.add_typer(audit_app, name="audit")  # hub audit verify
app.add_typer(batch_app)  # hub issue-batch FILE, hub worker


@app.callback()
def root(ctx: typer.Context) -> None:
    """Keep the hub's Services for the command: built at its first use, closed when the command ends."""
    from hub.services import CommandServices

    if ctx.obj is None:
        ctx.obj = CommandServices()
        ctx.call_on_close(ctx.obj.close)


@app.command()
def init() -> None:
    """Create the database schema, the root CA, the token key and (once) an operator client."""
    from hub.bootstrap import initialise

    settings = Settings()
    credentials = initialise(settings)
    if credentials is None:
        console.print("[green]Already initialised.[/green] Operator client exists; its secret is not shown again.")
    else:
        path = settings.var_dir / "operator-credentials.json"
        write_secret_json(path, credentials)
        console.print(f"[green]Initialised.[/green] Operator client [bold]{credentials['client_id']}[/bold]; "
                      f"secret written to {path} (shown once).")
    _print_trust_anchor(settings)


@app.command()
def demo() -> None:
    """Load demo departments and licenses (idempotent) and write var/demo/credentials.json."""
    from hub.demo.data import load_demo

    settings = Settings()
    _check_license_types(settings)
    summary = load_demo(settings, console=console)
    console.print(f"Demo credentials: [bold]{summary.credentials_path}[/bold]")
    _print_trust_anchor(settings)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to bind"),
          port: int = typer.Option(None, help="port (default HUB_PORT or 8000)"),
          workers: int = typer.Option(1, help="uvicorn worker processes"),
          demo_systems: bool = typer.Option(False, help="also run the demo household registry (户籍) on "
                                                        "HUB_DEMO_HOUSEHOLD_PORT (default 8101)")) -> None:
    """Serve the hub with uvicorn."""
    import uvicorn

    from hub.demo.systems import port_in_use

    settings = Settings()
    _check_license_types(settings)
    port = port or settings.port
    if port_in_use(host, port):
        _fail(f"Cannot serve the hub: port {port} on {host} is already in use. Stop the program that holds it, "
              f"or choose a free port with HUB_PORT or --port (e.g. HUB_PORT={port + 1} make run).")
    # uvicorn re-raises the SIGTERM it shut down on once it has restored this handler: exit through
    # Python then, so the `finally` below stops and reaps the demo systems.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["HUB_PORT"] = str(port)  # the app (in each worker) knows its own port: no connector may reach it
    household = _start_demo_systems(settings, hub_port=port) if demo_systems else None
    console.print(f"Hub on http://{host}:{port}  ·  API docs http://{host}:{port}/docs  ·  "
                  f"verify: POST http://{host}:{port}/verify")
    _print_trust_anchor(settings)
    try:
        uvicorn.run("hub.main:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="info", proxy_headers=False)
    finally:
        if household is not None:
            household.stop()


@app.command("import-source")
def import_source(ctx: typer.Context,
                  source_id: str = typer.Argument(..., help="a bulk source of the catalogue, e.g. civil.marriage"),
                  path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, JSONL or XLSX file"),
                  fmt: str = typer.Option(None, "--format", help="csv | jsonl | xlsx (default: from the suffix)")
                  ) -> None:
    """Import a file into a bulk source (归集), upserting by subject; bad rows are listed with their lines."""
    from datetime import datetime, timezone

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hub.core.errors import HubError
    from hub.core.operator import command_services
    from hub.catalogue.imports import audit_import, import_into_source
    from hub.catalogue.sources import get_source

    wiring = command_services(ctx)
    factory = wiring.session_factory
    fmt = fmt or {".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}.get(path.suffix.lower(), "csv")
    now = datetime.now(timezone.utc)
    try:
        with factory() as session:
            source = get_source(session, source_id)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task(f"归集 {source.name}", total=None)
            report = import_into_source(wiring.engine, source, str(path), fmt=fmt, now=now,
                                        progress=lambda done, total: progress.update(task, completed=done, total=total))
        with factory.begin() as session:
            audit_import(session, source, report, actor="operator", pepper=wiring.pepper, now=now)
    except HubError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(code=2) from None
    for error in report.errors[:20]:
        console.print(f"  line {error.line}: {error.message}", markup=False)
    console.print(f"{report.imported:,} records imported into {source_id}, {report.failed:,} bad rows "
                  f"(of {report.total:,}).")
    raise typer.Exit(code=1 if report.failed else 0)


def _start_demo_systems(settings: Settings, *, hub_port: int):
    """Start the demo household registry and wait until it answers as itself; stop the command if it cannot."""
    from hub.demo.systems import DemoSystemError, household_system

    if settings.demo_household_port == hub_port:
        _fail(f"HUB_DEMO_HOUSEHOLD_PORT and the hub's port are both {hub_port}: give the demo household "
              f"registry another port (e.g. HUB_DEMO_HOUSEHOLD_PORT={hub_port + 101} make run).")
    household = household_system(settings, on_exit=lambda message: errors.print(message, style="red",
                                                                                 soft_wrap=True, markup=False))
    try:
        household.start()
    except DemoSystemError as exc:
        _fail(str(exc))
    console.print(f"Demo household registry (户籍, REST) on {household.url}")
    return household


def _exit_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(0)


def _fail(message: str) -> None:
    """Stop the command with message on stderr and exit code 2."""
    errors.print(message, style="red", soft_wrap=True, markup=False)
    raise typer.Exit(code=2)


def _print_trust_anchor(settings: Settings) -> None:
    """Print the root certificate's fingerprint: verifiers compare it, out of band, before pinning the root."""
    from hub.core.db import make_engine
    from hub.trust.anchor import stored_trust_anchor

    engine = make_engine(settings.resolved_database_url())
    try:
        anchor = stored_trust_anchor(engine)
    finally:
        engine.dispose()
    if anchor is None:
        console.print("Hub root CA: created at first start; its fingerprint is then at GET /trust-anchor.")
        return
    console.print("Hub root CA SHA-256 fingerprint (verifiers pin it, docs/trust.md):")
    # one line, to copy whole; no emoji codes (":CD:" would print as a disc) and no markup read into it
    console.print(f"  {anchor.fingerprint_sha256}", soft_wrap=True, emoji=False, markup=False, highlight=False)


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
