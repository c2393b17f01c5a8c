"""Alembic environment: the engine comes from the caller; batch mode keeps SQLite migrations portable."""

from alembic import context

from hub.core.db import Base
from hub.models_index import import_all_tables

import_all_tables()
engine = context.config.attributes.get("engine")


def _ours(name, type_, parent_names) -> bool:
    """Leave procrastinate's tables (its own schema manager owns them) out of autogenerate."""
    return not (type_ == "table" and name and name.startswith("procrastinate"))


def run() -> None:
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                          compare_type=True, include_name=_ours)
        context.run_migrations()


run()
