"""The registry generation: read it; hub.catalogue.tables bumps it whenever a flush writes a source or a grant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.catalogue.tables import RegistryState

_CURRENT = select(RegistryState.generation).where(RegistryState.id == 1)


def read_generation(session: Session) -> int | None:
    """The current generation; None when the row is missing (then nothing may be cached)."""
    return session.connection().execute(_CURRENT).scalar_one_or_none()


def ensure_generation_row(session: Session) -> None:
    """Create the counter's row if a database lacks it (built without migrations)."""
    if read_generation(session) is None:
        session.add(RegistryState(id=1, generation=0))
