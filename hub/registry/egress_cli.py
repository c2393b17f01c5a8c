"""`hub connectors allow|list|revoke`: the operator's egress rules, on the hub's own database."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from hub.audit.service import audit_pepper
from hub.core.clock import system_clock
from hub.core.db import make_engine, make_session_factory
from hub.core.errors import HubError
from hub.core.settings import Settings
from hub.registry import egress

app = typer.Typer(help="Connector targets the operator approved per department (egress rules).",
                  no_args_is_help=True)
console = Console()


@contextmanager
def _session():
    """One transaction on the hub's database; a refusal prints its reason and exits 2."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        with make_session_factory(engine).begin() as session:
            yield session, settings
    except HubError as exc:
        console.print(f"[red]{exc.detail}[/red]", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    finally:
        engine.dispose()


@app.command()
def allow(department: str = typer.Argument(..., help="the department's credit code"),
          target: str = typer.Argument(..., help="http(s)://HOST[:PORT], postgresql://HOST[:PORT]/DATABASE or "
                                                 "sqlite:////ABSOLUTE/PATH")) -> None:
    """Approve a target for a department's connectors; its sources waiting for it are contacted from now on."""
    with _session() as (session, settings):
        rule = egress.allow_target(session, department, target, guard=egress.hub_guard(settings), actor="operator",
                                   pepper=audit_pepper(settings.passphrase()), now=system_clock())
        console.print(f"Approved [bold]{rule.target}[/bold] for {department} (rule {rule.id}).", highlight=False)


@app.command("list")
def list_rules(department: str = typer.Option(None, help="only this department's rules")) -> None:
    """Show the approved targets, and the sources still waiting for one."""
    with _session() as (session, _):
        rules = Table("rule", "department", "target", "approved at", "by")
        for rule in egress.list_rules(session, department_code=department):
            out = egress.rule_out(session, rule)
            rules.add_row(out.id, f"{out.department.code} {out.department.name}", out.target,
                          f"{out.created_at:%Y-%m-%d %H:%M}", out.created_by)
        console.print(rules)
        waiting = Table("source", "owner", "target awaiting approval", title="Pending review (not contacted)")
        for source, state in egress.pending_sources(session):
            owner = egress.department_code(session, source.department_id)
            if department in (None, owner):
                for target in state.targets or ("(config outside the target grammar)",):
                    if target not in state.approved:
                        waiting.add_row(source.id, owner, str(target))
        console.print(waiting)


@app.command()
def revoke(rule_id: str = typer.Argument(..., help="the rule's id, as `hub connectors list` shows it")) -> None:
    """Delete a rule: the sources that need it are pending review again, and no longer contacted."""
    with _session() as (session, settings):
        rule = egress.revoke_rule(session, rule_id, actor="operator", pepper=audit_pepper(settings.passphrase()),
                                  now=system_clock())
        console.print(f"Revoked {rule.target} (rule {rule.id}).", highlight=False)
