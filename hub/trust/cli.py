"""`hub keys ...`: list, rotate and revoke department issuer keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from hub.core.operator import operator_session
from hub.trust.service import issuer_keys, issuer_subject, revoke_issuer_key, rotate_issuer_key

app = typer.Typer(help="Department issuer keys: list, rotate, revoke (compromise).", no_args_is_help=True)
console = Console()


@dataclass(frozen=True)
class _Department:
    id: str
    code: str
    name: str


def _department(session: Session, code: str) -> _Department:
    """The department with this credit code, as its issuer keys name it."""
    key = issuer_subject(session, code)
    if key is None:
        console.print(f"[red]No department with code {code}.[/red]")
        raise typer.Exit(code=1)
    return _Department(key.department_id, key.subject_code, key.subject_name)


@app.command("list")
def list_keys(ctx: typer.Context, department: str = typer.Argument(..., help="the department's credit code")) -> None:
    """Show a department's issuer keys."""
    with operator_session(ctx, console) as (session, _):
        dept = _department(session, department)
        table = Table("kid", "alg", "status", "not before", "not after", "compromised since")
        for key in issuer_keys(session, dept.id):
            table.add_row(key.kid, key.alg, key.status, f"{key.not_before:%Y-%m-%d}", f"{key.not_after:%Y-%m-%d}",
                          key.compromised_since.isoformat() if key.compromised_since else "")
        console.print(table)


@app.command()
def rotate(ctx: typer.Context, department: str = typer.Argument(..., help="the department's credit code"),
           alg: str = typer.Option(None, help="ES256 or EdDSA (default: the current key's)")) -> None:
    """Make a new issuer key and certificate; licenses signed with the old key keep verifying."""
    with operator_session(ctx, console) as (session, wiring):
        dept = _department(session, department)
        keys = issuer_keys(session, dept.id)
        key = rotate_issuer_key(session, department_id=dept.id, code=dept.code, name=dept.name,
                                alg=alg or (keys[-1].alg if keys else "ES256"), passphrase=wiring.passphrase,
                                now=wiring.clock())
        console.print(f"New issuer key [bold]{key.kid}[/bold] ({key.alg}) for {dept.name}.")


@app.command()
def revoke(ctx: typer.Context, department: str = typer.Argument(..., help="the department's credit code"),
           kid: str = typer.Argument(..., help="the compromised key id"),
           since: datetime = typer.Option(..., help="compromised since (ISO 8601; UTC if no offset)")) -> None:
    """Mark a key compromised since a time; a new key replaces it if it was the active one."""
    since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    with operator_session(ctx, console) as (session, wiring):
        dept = _department(session, department)
        key = revoke_issuer_key(session, department_id=dept.id, kid=kid, since=since)
        console.print(f"Key {kid} of {dept.name} is compromised since {since.isoformat()}.")
        if not any(k.status == "active" for k in issuer_keys(session, dept.id)):
            new = rotate_issuer_key(session, department_id=dept.id, code=dept.code, name=dept.name, alg=key.alg,
                                    passphrase=wiring.passphrase, now=wiring.clock())
            console.print(f"New issuer key [bold]{new.kid}[/bold] replaces it.")
