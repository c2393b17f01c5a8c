"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connectors.store import shared_records
from hub.core.db import Base, make_engine
from hub.migrations import alembic_config, upgrade
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_idempotency_keys_survive_the_move_to_one_store_and_back_with_rows_pointing_at_the_tables(
        backend, tmp_path, request):
    # 0008 rebuilds batch_jobs (SQLite drops and recreates it): batch rows point at it, and their keys move.
    engine = make_engine(make_settings(backend, tmp_path, request).resolved_database_url())
    try:
        upgrade(engine, "0007")
        with engine.begin() as conn:
            tables = sa.MetaData()
            tables.reflect(conn, only=["departments", "licenses", "batch_jobs", "batch_rows", "idempotency_records"])
            department = _insert(conn, tables.tables["departments"], code="11100000000013338W")
            license = _insert(conn, tables.tables["licenses"], issuer_department_id=department)
            job = _insert(conn, tables.tables["batch_jobs"], client_id="client-1", department_id=department,
                          idempotency_key="job-key", request_hash="b" * 64)
            _insert(conn, tables.tables["batch_rows"], job_id=job)
            _insert(conn, tables.tables["idempotency_records"], client_id="client-1", key="license-key",
                    request_hash="a" * 64, license_id=license)
        upgrade(engine)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT operation, key, resource_id FROM idempotent_requests "
                                          "ORDER BY operation")).all()
            assert [(operation, key) for operation, key, _ in stored] == [("batch", "job-key"),
                                                                           ("license", "license-key")]
            assert stored[0][2] == job
            assert conn.execute(sa.text("SELECT count(*) FROM batch_rows WHERE job_id = :job"),
                                {"job": job}).scalar() == 1
        command.downgrade(alembic_config(engine), "0007")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT idempotency_key, request_hash FROM batch_jobs")).one() == (
                "job-key", "b" * 64)
            assert conn.execute(sa.text("SELECT key FROM idempotency_records")).scalar() == "license-key"
            assert conn.execute(sa.text("SELECT count(*) FROM batch_rows")).scalar() == 1
    finally:
        engine.dispose()


def _insert(conn, table: sa.Table, **given) -> str:
    """Insert a row giving the named values and a plain value for every other required column; return its id."""
    values = dict(given)
    for column in table.columns:
        if column.name not in values and not column.nullable and column.server_default is None:
            values[column.name] = _plain(column.type)
    conn.execute(table.insert().values(values))
    return values.get("id")


def _plain(type_: sa.types.TypeEngine):
    if isinstance(type_, sa.String):
        return uuid.uuid4().hex[:type_.length]
    if isinstance(type_, sa.DateTime):
        return datetime.now(timezone.utc)
    if isinstance(type_, sa.Date):
        return date(2026, 1, 1)
    if isinstance(type_, sa.Boolean):
        return False
    if isinstance(type_, sa.Integer):
        return 1
    return {}  # JSON
