"""The session helpers: counters bumped at once on PostgreSQL come from a pool of their own."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.db import at_once, counts_at_once, make_session_factory
from tests.conftest import scratch_database


def test_a_counter_connection_does_not_wait_for_the_sessions_pool(request):
    # The session's pool has one connection and the session holds it: a counter statement drawn from
    # that pool would wait for it forever (here: time out after a second).
    url = scratch_database(request, "hub_db")
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, pool_timeout=1)
    observer = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE counter (n int)"))
        with make_session_factory(engine)() as session:  # the factory owns the counters' own pool
            assert counts_at_once(session)
            session.execute(sa.text("SELECT 1"))  # the session's transaction holds the pool's one connection
            with at_once(session) as counters:
                counters.execute(sa.text("INSERT INTO counter VALUES (1)"))
            with observer.connect() as other:  # committed at once: seen while the session is still open
                assert other.execute(sa.text("SELECT count(*) FROM counter")).scalar() == 1
    finally:
        engine.dispose()
        observer.dispose()


def test_sqlite_bumps_counters_in_the_session(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with Session(engine) as session:
        assert not counts_at_once(session)
