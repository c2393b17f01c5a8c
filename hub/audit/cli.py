"""`hub audit verify`: check the audit log end to end from the database, against the pinned root certificate."""

from __future__ import annotations

from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hub.audit.heads import latest_head, root_certificate
from hub.audit.integrity import VerifyReport, verify_log
from hub.core.operator import command_services

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console()


def _pinned(path: Path) -> bytes:
    raw = path.read_bytes()
    cert = x509.load_pem_x509_certificate(raw) if b"-----BEGIN" in raw else x509.load_der_x509_certificate(raw)
    return cert.public_bytes(Encoding.DER)


def _run(session, root_cert_der: bytes, chunk: int) -> VerifyReport:
    latest = latest_head(session)
    total = latest.tree_size if latest else 0
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("entries", total=total)
        return verify_log(session, root_cert_der=root_cert_der, chunk=chunk,
                          progress=lambda done: bar.update(task, completed=done))


@app.command()
def verify(ctx: typer.Context, root_cert: Path = typer.Option(None, "--root-cert", exists=True, dir_okay=False,
                                          help="pinned hub root certificate (PEM or DER); default: the one "
                                               "in the database (then only the log's own consistency is proven)"),
           chunk: int = typer.Option(5000, min=100, help="entries read per query")) -> None:
    """Recompute every leaf, the hash chain and the Merkle root; check the signed tree heads. Exit 1 at the first bad entry."""
    with command_services(ctx).session_factory() as session:
        der = _pinned(root_cert) if root_cert else root_certificate(session)
        report = _run(session, der, chunk)
    console.print(report.summary(), style="green" if report.ok else "red", markup=False, highlight=False,
                  soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=1)
