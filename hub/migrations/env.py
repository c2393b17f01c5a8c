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
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # a batch migration rebuilds a table (DROP + CREATE): rows pointing at it must not stop that
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # the pragma is a no-op inside a transaction
        try:
            with connection.begin():
                context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                                  compare_type=True, include_name=_ours)
                context.run_migrations()
                if sqlite and (dangling := connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"the migration left rows pointing at nothing: {dangling[:5]}")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


run()
