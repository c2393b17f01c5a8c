"""The operator's command line: `hub init`, `hub demo`, `hub serve`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from hub.core.settings import Settings, write_secret_json
from hub.batch.cli import app as batch_app
from hub.keys_cli import app as keys_app

app = typer.Typer(help="政务数据共享与电子证照交换枢纽 — exchange hub operator commands", no_args_is_help=True)
console = Console()
app.add_typer(keys_app, name="keys")
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
          workers: int = typer.Option(1, help="uvicorn worker processes")) -> None:
    """Serve the hub with uvicorn."""
    import uvicorn

    settings = Settings()
    _check_license_types(settings)
    port = port or settings.port
    console.print(f"Hub on http://{host}:{port}  ·  API docs http://{host}:{port}/docs  ·  "
                  f"verify: POST http://{host}:{port}/verify")
    uvicorn.run("hub.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)


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
