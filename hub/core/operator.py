"""What the operator's commands share: the hub's Services (built once by the root command), one transaction on
the hub's database, refusals said plainly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from hub.core.errors import HubError
from hub.core.wiring import Services


def command_services(ctx: typer.Context, *, prepare: bool = False) -> Services:
    """The Services the root command (hub.cli) keeps in the typer context, built at the first call."""
    return ctx.find_root().obj.get(prepare=prepare)


@contextmanager
def operator_session(ctx: typer.Context, console: Console) -> Iterator[tuple[Session, Services]]:
    """Yield (session, services) in one transaction; a refusal (HubError) prints its reason and exits 2."""
    wiring = command_services(ctx)
    try:
        with wiring.session_factory.begin() as session:
            yield session, wiring
    except HubError as exc:
        console.print(f"[red]{exc.detail}[/red]", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
