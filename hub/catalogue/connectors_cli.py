"""`hub connectors allow|list|revoke`: the operator's egress rules (hub.egress) and the catalogue's sources still
waiting for one, on the hub's own database."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hub.core.operator import operator_session
from hub.catalogue.egress import pending_sources
from hub.egress import rules

app = typer.Typer(help="Connector targets the operator approved per department (egress rules).",
                  no_args_is_help=True)
console = Console()


@app.command()
def allow(ctx: typer.Context, department: str = typer.Argument(..., help="the department's credit code"),
          target: str = typer.Argument(..., help="http(s)://HOST[:PORT], postgresql://HOST[:PORT]/DATABASE or "
                                                 "sqlite:////ABSOLUTE/PATH")) -> None:
    """Approve a target for a department's connectors; its sources waiting for it are contacted from now on."""
    with operator_session(ctx, console) as (session, wiring):
        rule = rules.allow_target(session, department, target, guard=wiring.connections.guard, actor="operator",
                                   pepper=wiring.pepper, now=wiring.clock())
        console.print(f"Approved [bold]{rule.target}[/bold] for {department} (rule {rule.id}).", highlight=False)


@app.command("list")
def list_rules(ctx: typer.Context, department: str = typer.Option(None, help="only this department's rules")) -> None:
    """Show the approved targets, and the sources still waiting for one."""
    with operator_session(ctx, console) as (session, _):
        table = Table("rule", "department", "target", "approved at", "by")
        for rule in rules.list_rules(session, department_code=department):
            out = rules.rule_out(session, rule)
            table.add_row(out.id, f"{out.department.code} {out.department.name}", out.target,
                          f"{out.created_at:%Y-%m-%d %H:%M}", out.created_by)
        console.print(table)
        waiting = Table("source", "owner", "target awaiting approval", title="Pending review (not contacted)")
        for source, state in pending_sources(session):
            owner = rules.department_code(session, source.department_id)
            if department in (None, owner):
                for target in state.targets or ("(config outside the target grammar)",):
                    if target not in state.approved:
                        waiting.add_row(source.id, owner, str(target))
        console.print(waiting)


@app.command()
def revoke(ctx: typer.Context,
           rule_id: str = typer.Argument(..., help="the rule's id, as `hub connectors list` shows it")) -> None:
    """Delete a rule: the sources that need it are pending review again, and no longer contacted."""
    with operator_session(ctx, console) as (session, wiring):
        rule = rules.revoke_rule(session, rule_id, actor="operator", pepper=wiring.pepper,
                                  now=wiring.clock())
        console.print(f"Revoked {rule.target} (rule {rule.id}).", highlight=False)
