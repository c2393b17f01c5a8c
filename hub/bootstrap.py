"""First start: schema, hub keys and the operator client."""

from __future__ import annotations

from sqlalchemy import select

from hub.core.clock import system_clock
from hub.core.db import make_engine, make_session_factory
from hub.core.settings import Settings
from hub.migrations import upgrade
from hub.auth.clients import create_operator_client
from hub.auth.tables import OAuthClient
from hub.trust.service import ensure_hub_keys


def initialise(settings: Settings, *, now=None) -> dict | None:
    """Migrate, create keys, and create an operator client if none exists; returns its credentials once."""
    now = now or system_clock()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        with make_session_factory(engine).begin() as session:
            ensure_hub_keys(session, passphrase=settings.passphrase(), now=now)
            if session.scalar(select(OAuthClient.client_id).where(OAuthClient.role == "operator")):
                return None
            return create_operator_client(session, now=now).model_dump()
    finally:
        engine.dispose()
