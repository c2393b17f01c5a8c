"""Connector targets: where a connector connects, written one strict way.

A target is what a connector reaches, without path, credentials or query: `http://HOST:PORT`,
`https://HOST:PORT`, `postgresql://HOST:PORT/DATABASE` or `sqlite:////ABSOLUTE/PATH` (the file, symlinks
resolved). `parse_target` reads the text an operator approves; `targets_of` derives the targets of a connector
configuration; both give the same canonical `Target`, so an approval matches a source by equality.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy.engine import URL
from yarl import URL as HttpUrl

from connectors.base import ConnectorConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

HTTP_PORTS = {"http": 80, "https": 443}
POSTGRESQL_PORT = 5432
# Query parameters a PostgreSQL source URL may carry: none of them changes where or as whom it connects
# (host=, hostaddr=, port=, dbname=, service=, options=, passfile= and the ssl file paths would).
POSTGRESQL_PARAMS = frozenset({"sslmode", "application_name"})

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")  # what inet_aton would read as a number
_HOST = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#%\\]+)"
_HTTP_RULE = re.compile(rf"^(?P<scheme>https?)://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?/?$", re.IGNORECASE)
_PG_RULE = re.compile(rf"^postgresql(\+psycopg)?://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?/(?P<db>[^/?#\s]+)$",
                      re.IGNORECASE)
_SQLITE_RULE = re.compile(r"^sqlite(\+pysqlite)?:///(?P<path>/[^?#]*)$", re.IGNORECASE)
GRAMMAR = ("http://HOST[:PORT], https://HOST[:PORT], postgresql://HOST[:PORT]/DATABASE or "
           "sqlite:////ABSOLUTE/PATH")


@dataclass(frozen=True, order=True)
class Target:
    """Where a connector connects: scheme, host and port; for PostgreSQL the database, for SQLite the file."""

    scheme: str  # http, https, postgresql, sqlite
    host: str = ""  # a lower-case DNS name (IDNA) or an IP literal (IPv6 without brackets)
    port: int = 0
    database: str = ""  # PostgreSQL: the database name; SQLite: the absolute path, symlinks resolved

    def __str__(self) -> str:
        if self.scheme == "sqlite":
            return f"sqlite:///{self.database}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        base = f"{self.scheme}://{host}:{self.port}"
        return f"{base}/{quote(self.database, safe='')}" if self.scheme == "postgresql" else base

    @property
    def literal(self) -> IPAddress | None:
        """The host as an IP address, when it is one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_target(text: str) -> Target:
    """Read a target as an operator writes it; raise ConnectorConfigError saying what is wrong."""
    text = text.strip() if isinstance(text, str) else ""
    if not text or len(text) > 1000 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConnectorConfigError(f"a target is one line: {GRAMMAR}")
    if match := _HTTP_RULE.match(text):
        scheme = match["scheme"].lower()
        return Target(scheme, canonical_host(match["host"]), _port(match["port"], HTTP_PORTS[scheme]))
    if match := _PG_RULE.match(text):
        database = _database(unquote(match["db"]))
        return Target("postgresql", canonical_host(match["host"]), _port(match["port"], POSTGRESQL_PORT), database)
    if match := _SQLITE_RULE.match(text):
        return Target("sqlite", database=sqlite_file(unquote(match["path"])))
    raise ConnectorConfigError(f"{text[:80]!r} is not a target: write {GRAMMAR} (no user, path or query)")


def canonical_host(raw: str) -> str:
    """A host as targets spell it: an IP literal in its standard form, or a lower-case DNS name (IDNA)."""
    host = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        return str(ipaddress.ip_address(host))  # no zone ids, no legacy forms such as 127.1 or 0x7f000001
    except ValueError:
        if raw.startswith("["):
            raise ConnectorConfigError(f"host {raw!r} is not an IPv6 address") from None
    try:
        name = HttpUrl.build(scheme="http", host=host.rstrip(".")).raw_host or ""
    except (ValueError, UnicodeError):
        name = ""
    labels = name.lower().split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels) \
            or _NUMERIC_LABEL.match(labels[-1]):
        raise ConnectorConfigError(f"host {raw!r} is neither an IP address nor a host name "
                                   "(letters, digits and hyphens; the last label not a number)")
    return name.lower()


def _port(text: str | None, default: int) -> int:
    port = default if text is None else int(text)
    if not 1 <= port <= 65535:
        raise ConnectorConfigError(f"port {port} is not between 1 and 65535")
    return port


def _database(name: str) -> str:
    if not name or len(name) > 63 or any(ord(c) < 32 for c in name):
        raise ConnectorConfigError("a PostgreSQL target names its database (at most 63 characters)")
    return name


def sqlite_file(path: str) -> str:
    """The absolute path of a SQLite file with every symlink resolved; a relative path is refused."""
    if not path.startswith("/") or "\x00" in path:
        raise ConnectorConfigError("a SQLite file is given by its absolute path: sqlite:////ABSOLUTE/PATH "
                                   "(four slashes)")
    return os.path.realpath(path)


def http_target(url: str) -> Target:
    """The target of an http(s) URL as aiohttp will reach it (yarl is the parser both use)."""
    try:
        parsed = HttpUrl(url)
    except (ValueError, TypeError):
        raise ConnectorConfigError("is not a URL") from None
    if parsed.scheme not in HTTP_PORTS or not parsed.raw_host:
        raise ConnectorConfigError("must be an absolute http:// or https:// URL")
    return Target(parsed.scheme, canonical_host(parsed.raw_host), _port(str(parsed.port), 0))


def sql_target(url: URL) -> Target:
    """The target of a parsed SQLAlchemy URL (its driver already checked to be SQLite or PostgreSQL)."""
    if url.drivername.startswith("sqlite"):
        if url.query:
            raise ConnectorConfigError("url: a SQLite URL takes no query parameters")
        return Target("sqlite", database=sqlite_file(url.database or ""))
    if not url.host:
        raise ConnectorConfigError("url: a PostgreSQL URL names its host (no Unix sockets)")
    unknown = sorted(set(url.query) - POSTGRESQL_PARAMS)
    if unknown:
        raise ConnectorConfigError(f"url: query parameters {', '.join(unknown)} are not allowed "
                                   f"(only {', '.join(sorted(POSTGRESQL_PARAMS))})")
    return Target("postgresql", canonical_host(url.host), _port(str(url.port or POSTGRESQL_PORT), 0),
                  _database(url.database or ""))


def targets_of(type_: str, config: Any) -> tuple[Target, ...]:
    """The targets a validated connector configuration reaches: none for bulk sources, which are inside the hub."""
    if type_ == "rest":
        found = [_keyed("url", http_target, config.url.replace("{subject}", "x"))]
        if _keyed("url", http_target, config.url.replace("{subject}", "y")) != found[0]:
            raise ConnectorConfigError("url: {subject} may stand in the path or the query, not in the host or port")
        if config.health_url:
            found.append(_keyed("health_url", http_target, config.health_url))
        return tuple(sorted(set(found)))
    if type_ == "sql":
        from connectors.config import parse_sql_url

        return (_keyed("url", sql_target, parse_sql_url(config.url)),)
    return ()


def _keyed(key: str, parse: Callable[[Any], Target], value: Any) -> Target:
    """Parse a config value into a target; a refusal names the key."""
    try:
        return parse(value)
    except ConnectorConfigError as exc:
        raise ConnectorConfigError(f"{key}: {exc.reason.removeprefix(key + ': ')}") from None
