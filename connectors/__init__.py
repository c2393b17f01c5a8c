"""Adapters to department systems behind one small protocol; a library the hub calls, importing nothing of it.

    connector = build("rest", {"url": "http://127.0.0.1:8101/residents/{subject}"}, egress=guard)
    record = await connector.fetch("110105199001010011", ["name", "address"])   # None: no such record

`egress` is the policy deciding where the connector may connect (connectors/egress.py, targets.py); without one, every
target is approved but link-local, metadata, unspecified, multicast and reserved addresses are still refused.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.base import (
    AccountRefused,
    Connector,
    ConnectorConfigError,
    ConnectorError,
    Health,
    ImportFormatError,
    ImportInterrupted,
    ImportTooLarge,
    SourceRefused,
    SourceTimeout,
    SourceUnavailable,
)
from connectors.imports import ImportReport, RowError, import_file
from connectors.config import validate
from connectors.egress import Egress, EgressGuard, EgressRefused, forbidden, system_resolve
from connectors.targets import Target, parse_target, targets_of
from connectors.fields import FieldSpec
from connectors.limits import Limits
from connectors.rest import RestConnector
from connectors.sql import SqlConnector
from connectors.sqlcheck import TemplateRefused, check_template
from connectors.store import SharedStoreConnector, create_store_table, shared_records

__all__ = [
    "AccountRefused", "Connector", "ConnectorConfigError", "ConnectorError", "Egress", "EgressGuard", "EgressRefused",
    "FieldSpec", "Health", "ImportFormatError", "ImportInterrupted", "ImportReport", "ImportTooLarge", "Limits",
    "RowError", "SharedStoreConnector", "SourceRefused", "SourceTimeout", "SourceUnavailable", "TYPES", "Target",
    "TemplateRefused", "build", "check_template", "create_store_table", "forbidden", "import_file", "keep_secrets",
    "parse_target", "redact", "shared_records", "system_resolve", "targets", "targets_of", "validate",
]

TYPES = ("rest", "sql", "bulk")
SECRET = "***"
_SECRET_PARAMS = {"password", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "key", "secret"}


def build(type: str, config: dict[str, Any], *, egress: Egress | None = None,  # noqa: A002 - the config's word
          **context: Any) -> Connector:
    """Validate the config and return a connector that connects only where `egress` permits; nothing is contacted.

    "bulk" needs engine= and source_id= context, others ignore it; fields= (the source's declared field names)
    makes a SQL template that returns any other column invalid.
    """
    checked = validate(type, config, fields=context.get("fields"))
    targets_of(type, checked)  # a target outside the grammar (a relative SQLite path, a host=...) is a bad config
    if type == "rest":
        return RestConnector(checked, egress=egress)
    if type == "sql":
        try:
            return SqlConnector(checked, egress=egress)
        except ImportError as exc:  # a driver the URL names is not installed
            raise ConnectorConfigError(f"url: the database driver is not installed ({exc.name})") from None
    engine, source_id = context.get("engine"), context.get("source_id")
    if engine is None or not source_id:
        raise TypeError("build('bulk', ...) needs engine= (the hub's SQLAlchemy engine) and source_id=")
    return SharedStoreConnector(engine, str(source_id))


def targets(type: str, config: dict[str, Any]) -> tuple[Target, ...]:  # noqa: A002
    """The targets a connector config reaches (none for bulk); ConnectorConfigError if the config is not valid."""
    return targets_of(type, validate(type, config))


def redact(type: str, config: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    """Return a copy of the config with every secret replaced by "***"."""
    if not isinstance(config, dict):
        return {}
    safe = copy.deepcopy(config)
    for key in ("url", "health_url"):
        if isinstance(safe.get(key), str):
            safe[key] = _redact_sql_url(safe[key]) if type == "sql" and key == "url" else _redact_http_url(safe[key])
    header = safe.get("auth_header")
    if isinstance(header, dict) and "value" in header:
        header["value"] = SECRET
    elif header is not None and not isinstance(header, dict):
        safe["auth_header"] = SECRET
    return safe


def keep_secrets(type: str, config: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    """Return an edited config with the stored secrets wherever the edit sent back "***" (what GET shows).

    The auth header's value "***" keeps the stored value; a URL sent back exactly as redact() shows it keeps
    the stored URL. Any other "***" in a URL is refused: the edit changed the URL and must give its secret.
    """
    merged = copy.deepcopy(config)
    shown = redact(type, stored)
    header, old_header = merged.get("auth_header"), stored.get("auth_header")
    if isinstance(header, dict) and header.get("value") == SECRET:
        if not isinstance(old_header, dict) or old_header.get("name") != header.get("name"):
            raise ConnectorConfigError("auth_header.value: *** keeps the stored value only under the same name")
        header["value"] = old_header["value"]
    for key in ("url", "health_url"):
        value = merged.get(key)
        if isinstance(value, str) and SECRET in value:
            if value != shown.get(key):
                raise ConnectorConfigError(f"{key}: give the full URL with its secret, or send back the URL shown "
                                           "by GET /sources/{id} unchanged")
            merged[key] = stored[key]
    return merged


def _redact_http_url(url: str) -> str:
    """Hide a password in the userinfo and secret-looking query parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", f":{SECRET}@", 1)
    except ValueError:
        return SECRET
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = parts.query
    if any(key.lower() in _SECRET_PARAMS for key, _ in pairs):
        query = urlencode([(k, SECRET if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="{}*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_sql_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL may still hold a secret: hide it whole
        return SECRET
    query = {k: (SECRET if k.lower() in _SECRET_PARAMS else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", SECRET)
