"""Connector secrets sealed at rest: a stored config holds its redacted form and one sealed envelope.

What `connectors.redact` hides (a REST auth header's value, a password in a URL, secret-looking query parameters)
is moved into an envelope under the config key "$sealed"; the rest stays readable. A flush hook seals every source
written, so no code path can store a secret in plain text; rows stored in plain text before are sealed at start-up
(`seal_plain_rows`). Secrets are opened only where a connector is built (hub.catalogue.connections).
"""

from __future__ import annotations

import orjson
from sqlalchemy import event, select
from sqlalchemy.orm import Session, attributes

import connectors

from hub.core.sealed import Sealer
from hub.catalogue.tables import Source

SEALED = "$sealed"
SESSION_KEY = "hub.connector_secrets"  # Session.info key of the ConnectorSecrets that seals written sources


class ConnectorSecrets:
    """Seal a source's connector secrets for storage; open them to build its connector."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def seal(self, source_id: str, type_: str, config: dict, *, previous: dict | None = None) -> dict:
        """The config to store: secrets redacted and sealed (the previous envelope kept if they did not change)."""
        current = without_envelope(config)
        shown = connectors.redact(type_, current)
        kept = self._payload(source_id, config) if SEALED in config else {}
        kept_shown = connectors.redact(type_, kept)  # a sealed value still applies where the config shows it as ***
        secrets = {key: value for key, value in kept.items() if key in current and current[key] == kept_shown[key]}
        secrets |= {key: value for key, value in current.items() if shown.get(key) != value}
        if not secrets:
            return current
        envelope = None
        if previous and SEALED in previous and self._payload(source_id, previous) == secrets:
            envelope = previous[SEALED]
        envelope = envelope or self._sealer.seal(orjson.dumps(secrets, option=orjson.OPT_SORT_KEYS),
                                                 context=source_id.encode())
        return shown | {SEALED: envelope}

    def open(self, source_id: str, stored: dict) -> dict:
        """The config with its secrets, as the connector needs it (raises SealError if they cannot be opened)."""
        if SEALED not in stored:
            return dict(stored)
        return without_envelope(stored) | self._payload(source_id, stored)

    def _payload(self, source_id: str, stored: dict) -> dict:
        return orjson.loads(self._sealer.open(stored[SEALED], context=source_id.encode()))


def without_envelope(stored: dict) -> dict:
    """A stored config without its sealed envelope."""
    return {key: value for key, value in stored.items() if key != SEALED}


def public_config(type_: str, stored: dict) -> dict:
    """A stored config fit to show its owner and the operator: secrets as ***, no envelope."""
    return connectors.redact(type_, without_envelope(stored))


def holds_plain_secret(type_: str, stored: dict) -> bool:
    """Whether a config has a secret outside its envelope."""
    plain = without_envelope(stored)
    return connectors.redact(type_, plain) != plain


def seal_plain_rows(session: Session) -> int:
    """Mark every source whose stored config holds a plain secret as changed, so the flush seals it; the count."""
    count = 0
    for source in session.scalars(select(Source)):
        if holds_plain_secret(source.connector_type, source.connector_config):
            attributes.flag_modified(source, "connector_config")
            count += 1
    return count


@event.listens_for(Session, "before_flush")
def _seal_written_sources(session: Session, _context, _instances) -> None:
    """Seal the secrets of every source this flush writes, with the ConnectorSecrets of the session."""
    for source in [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Source)]:
        if not isinstance(source.connector_config, dict):
            continue
        if not holds_plain_secret(source.connector_type, source.connector_config):
            continue
        secrets: ConnectorSecrets | None = session.info.get(SESSION_KEY)
        if secrets is None:
            raise RuntimeError("a source with connector secrets is written by a session without ConnectorSecrets "
                               "(build it from create_app's session factory)")
        before = attributes.get_history(source, "connector_config").deleted
        previous = before[0] if before and isinstance(before[0], dict) else None
        source.connector_config = secrets.seal(source.id, source.connector_type, source.connector_config,
                                               previous=previous)
