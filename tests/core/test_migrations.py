"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connectors.store import shared_records
from hub.core.db import Base, make_engine
from hub.migrations import upgrade
from hub.models_index import import_all_tables
from tests.conftest import BACKENDS, make_settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_the_models(backend, tmp_path, request):
    import_all_tables()
    engine = make_engine(make_settings(backend, tmp_path, request).resolved_database_url())
    try:
        upgrade(engine)
        upgrade(engine)  # running twice is harmless
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, [Base.metadata, shared_records.metadata])
        assert diff == []
    finally:
        engine.dispose()
