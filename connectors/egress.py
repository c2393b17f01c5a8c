"""Where a connector may connect: approved targets only, and never the places no approval can open.

A target is what a connector reaches, without path, credentials or query: `http://HOST:PORT`,
`https://HOST:PORT`, `postgresql://HOST:PORT/DATABASE` or `sqlite:////ABSOLUTE/PATH` (the file, symlinks
resolved). `parse_target` reads the text an operator approves; `targets_of` derives the targets of a connector
configuration; both give the same canonical `Target`, so a rule matches a source by equality.

`EgressGuard` is the policy a connector is given. It refuses, whatever was approved: link-local, cloud metadata,
unspecified, multicast and reserved addresses; the endpoints and databases it is told are its caller's own; and
SQLite files outside its directory. Names are resolved by the guard itself and every address is checked; the
connectors connect to the addresses it checked, so a name that resolves differently a moment later (DNS
rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import quote, unquote

import psutil
from sqlalchemy.engine import URL
from yarl import URL as HttpUrl

from connectors.base import ConnectorConfigError, ConnectorError, SourceUnavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], list[IPAddress]]

HTTP_PORTS = {"http": 80, "https": 443}
POSTGRESQL_PORT = 5432
# Query parameters a PostgreSQL source URL may carry: none of them changes where or as whom it connects
# (host=, hostaddr=, port=, dbname=, service=, options=, passfile= and the ssl file paths would).
POSTGRESQL_PARAMS = frozenset({"sslmode", "application_name"})

FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("100.100.100.200/32", "a cloud metadata address"),  # Alibaba Cloud
    ("168.63.129.16/32", "a cloud metadata address"),  # Azure WireServer
    ("fd00:ec2::254/128", "a cloud metadata address"),  # AWS IMDS over IPv6
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("240.0.0.0/4", "a reserved or broadcast address"),
)
_FORBIDDEN = tuple((ipaddress.ip_network(net), why) for net, why in FORBIDDEN)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: an IPv4 address inside an IPv6 one
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")  # what inet_aton would read as a number
_HOST = r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#%\\]+)"
_HTTP_RULE = re.compile(rf"^(?P<scheme>https?)://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?/?$", re.IGNORECASE)
_PG_RULE = re.compile(rf"^postgresql(\+psycopg)?://{_HOST}(?::(?P<port>[0-9]{{1,5}}))?/(?P<db>[^/?#\s]+)$",
                      re.IGNORECASE)
_SQLITE_RULE = re.compile(r"^sqlite(\+pysqlite)?:///(?P<path>/[^?#]*)$", re.IGNORECASE)
GRAMMAR = ("http://HOST[:PORT], https://HOST[:PORT], postgresql://HOST[:PORT]/DATABASE or "
           "sqlite:////ABSOLUTE/PATH")


class EgressRefused(ConnectorError):
    """The connector's policy forbids this connection; nothing was sent."""

    code = "egress_refused"
    title = "connection refused by the egress policy (出口策略拒绝连接)"


class AddressRefused(OSError):
    """EgressRefused where a socket library expects an OSError (aiohttp's resolver and socket factory)."""


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


def forbidden(address: IPAddress) -> str | None:
    """Why no rule can open an address (link-local, metadata, unspecified, multicast, reserved), or None."""
    embedded = _embedded_ipv4(address)
    for network, why in _FORBIDDEN:
        if address in network or (embedded is not None and embedded in network):
            return why
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, IPv4-compatible), if any."""
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):  # ::/96 but :: and ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve a name with the system resolver (getaddrinfo), in its order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise SourceUnavailable("cannot resolve the source's host name") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def machine_addresses() -> set[IPAddress]:
    """Every address of this machine: loopback and each interface's."""
    found: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
    return found


def _this_machine(address: IPAddress) -> bool:
    return address.is_loopback or (_embedded_ipv4(address) or address).is_loopback


class Egress(Protocol):
    """The policy a connector is given: what it may reach, checked before and while connecting."""

    def permit(self, target: Target) -> None:
        """Raise EgressRefused unless the target is approved and not one no approval can open."""

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve a host and return its addresses, every one checked; raise EgressRefused if any is refused."""

    def permit_address(self, address: IPAddress, port: int) -> None:
        """Raise EgressRefused unless a socket may connect to this address and port."""

    def database_address(self, target: Target) -> IPAddress:
        """The checked address to connect a PostgreSQL target to; never the caller's own database."""

    def sqlite_path(self, path: str) -> str:
        """The file a SQLite target configured as `path` is opened at, checked now (symlinks resolved)."""


@dataclass(frozen=True)
class EgressGuard:
    """The standard policy. `approved=None` approves every target (a library default); the hub gives a set.

    `own_endpoints` are (host, port) pairs the caller serves on (a name or an IP literal); a host on this machine
    stands for every address of this machine (any loopback address, every interface's). `own_databases` are the caller's
    PostgreSQL databases, `own_files` its SQLite files; `sqlite_dir` the only directory SQLite sources may open.
    """

    approved: frozenset[Target] | None = None
    own_endpoints: tuple[tuple[str, int], ...] = ()
    own_databases: tuple[Target, ...] = ()
    own_files: tuple[str, ...] = ()
    sqlite_dir: str | None = None
    resolve: Resolve = field(default=system_resolve, compare=False)
    local_addresses: Callable[[], set[IPAddress]] = field(default=machine_addresses, compare=False)
    # permit() runs on every query: its verdict on a network target depends on nothing but the target
    _verdicts: dict[Target, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    def approving(self, targets: Iterable[Target]) -> EgressGuard:
        """The same policy with exactly these targets approved."""
        return replace(self, approved=frozenset(targets))

    def permit(self, target: Target) -> None:
        """Raise EgressRefused unless the target is approved and not one no approval can open."""
        reason = self._verdicts.get(target)
        if reason is None:
            if self.approved is not None and target not in self.approved:
                reason = f"{target} is not an approved target"
            else:  # names are checked as they are resolved, not on every request
                reason = self.refusal(target, lookups=False) or ""
            if target.scheme != "sqlite":  # a file's verdict can change as links change
                self._verdicts[target] = reason
        if reason:
            raise EgressRefused(reason)

    def refusal(self, target: Target, *, resolved: bool = False, lookups: bool = True) -> str | None:
        """Why no approval can open a target, or None.

        A name is resolved only when its port (and database) are the caller's own, to see whether it is the caller
        itself (not at all without `lookups`); with `resolved`, every address of the name is checked.
        """
        if target.scheme == "sqlite":
            return self._file_refusal(target.database)
        literal = target.literal
        if literal is not None and (why := forbidden(literal)):
            return f"{target} is {why}"
        own_hosts = [host for host, port in self.own_endpoints if port == target.port]
        if own_hosts and self._names_own(target, own_hosts, lookups):
            return f"{target} is the hub itself"
        own_databases = [own.host for own in self.own_databases if target.scheme == "postgresql"
                         and (own.port, own.database) == (target.port, target.database)]
        if own_databases and self._names_own(target, own_databases, lookups):
            return f"{target} is the hub's own database"
        if resolved:
            try:
                if target.scheme == "postgresql":
                    self.database_address(target)
                else:
                    self.addresses(target.host, target.port)
            except EgressRefused as exc:
                return exc.reason
            except SourceUnavailable:
                return None  # a name that does not resolve today is checked again when it is connected to
        return None

    def _names_own(self, target: Target, hosts: list[str], lookups: bool) -> bool:
        """Whether the target's host is one of the caller's hosts, by name or by any address it resolves to."""
        if target.host in hosts:
            return True
        if not lookups and target.literal is None:
            return False
        try:
            found = [target.literal] if target.literal is not None else self.resolve(target.host, target.port)
        except ConnectorError:
            return False
        return any(self._is_own(address, hosts) for address in found)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve a host and return its addresses, every one checked; raise EgressRefused if any is refused."""
        found = self.resolve(host, port)
        if not found:
            raise SourceUnavailable("cannot resolve the source's host name")
        for address in found:
            self.permit_address(address, port, name=host)
        return found

    def permit_address(self, address: IPAddress, port: int, *, name: str | None = None) -> None:
        """Raise EgressRefused unless a socket may connect to this address and port."""
        what = f"{name} ({address})" if name and name != str(address) else str(address)
        why = forbidden(address)
        if why:
            raise EgressRefused(f"{what} is {why}")
        if self._is_own(address, [host for host, own_port in self.own_endpoints if own_port == port]):
            raise EgressRefused(f"{what} port {port} is the hub itself")

    def database_address(self, target: Target) -> IPAddress:
        """The checked address to connect a PostgreSQL target to; never the caller's own database."""
        found = self.addresses(target.host, target.port)
        for own in self.own_databases:
            if (own.port, own.database) == (target.port, target.database) and \
                    any(self._is_own(address, [own.host]) for address in found):
                raise EgressRefused(f"{target} is the hub's own database")
        return found[0]

    def sqlite_path(self, path: str) -> str:
        """The file a SQLite target configured as `path` is opened at, checked now (symlinks resolved)."""
        target = Target("sqlite", database=sqlite_file(path))
        self.permit(target)
        return target.database

    def _file_refusal(self, path: str) -> str | None:
        if self.sqlite_dir is not None:
            directory = os.path.realpath(self.sqlite_dir)
            if os.path.commonpath([directory, path]) != directory:
                return f"{path} is outside the directory SQLite sources may open ({directory})"
        for own in self.own_files:
            real = os.path.realpath(own)
            if path == real or path.startswith(real + "-") or _same_file(path, real):
                return f"{path} is the hub's own database"
        return None

    def _is_own(self, address: IPAddress, hosts: Iterable[str]) -> bool:
        """Whether an address is one of the hosts'; a host on this machine stands for every address of it."""
        own: set[IPAddress] = set()
        for host in hosts:
            own |= self._host_addresses(host)
        if address in own:
            return True
        return any(_this_machine(a) for a in own) and (_this_machine(address) or address in self.local_addresses())

    def _host_addresses(self, host: str) -> set[IPAddress]:
        try:
            return {ipaddress.ip_address(host)}
        except ValueError:
            pass
        try:
            return set(self.resolve(host, 0))
        except ConnectorError:
            return set()  # a name of ours that does not resolve cannot be reached through it either


def _same_file(a: str, b: str) -> bool:
    """Whether two paths are one file (a hard link has another path but the same inode)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

