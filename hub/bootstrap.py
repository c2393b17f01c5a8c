"""First start: schema, hub keys and the operator client."""

from __future__ import annotations

from sqlalchemy import select

from hub.auth.clients import create_operator_client
from hub.auth.tables import OAuthClient
from hub.migrations import upgrade
from hub.core.settings import Settings
from hub.services import build_services
from hub.trust.service import ensure_hub_keys


def initialise(settings: Settings, *, now=None) -> dict | None:
    """Migrate, create keys, and create an operator client if none exists; returns its credentials once."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(settings, prepare=False)
    now = now or services.clock()
    try:
        upgrade(services.engine)
        with services.session_factory.begin() as session:
            ensure_hub_keys(session, passphrase=services.passphrase, now=now)
            if session.scalar(select(OAuthClient.client_id).where(OAuthClient.role == "operator")):
                return None
            return create_operator_client(session, now=now).model_dump()
    finally:
        services.close()
