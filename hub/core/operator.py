"""What the operator's commands share: one transaction on the hub's database, refusals said plainly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from hub.core.db import make_engine, make_session_factory
from hub.core.errors import HubError
from hub.core.settings import Settings


@contextmanager
def operator_session(console: Console) -> Iterator[tuple[Session, Settings]]:
    """Yield (session, settings) in one transaction; a refusal (HubError) prints its reason and exits 2."""
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
