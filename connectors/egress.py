"""Where a connector may connect: approved targets only, and never the places no approval can open.

`EgressGuard` is the policy a connector is given (targets: connectors/targets.py). It refuses, whatever was
approved: link-local, cloud metadata, unspecified, multicast and reserved addresses; the endpoints and databases
it is told are its caller's own; and SQLite files outside its directory. Names are resolved by the guard itself
and every address is checked; the connectors connect to the addresses it checked, so a name that resolves
differently a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

import psutil

from connectors.base import ConnectorError, SourceUnavailable
from connectors.targets import IPAddress, Target, sqlite_file

Resolve = Callable[[str, int], list[IPAddress]]

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


class EgressRefused(ConnectorError):
    """The connector's policy forbids this connection; nothing was sent."""

    code = "egress_refused"
    title = "connection refused by the egress policy (出口策略拒绝连接)"
    outcome = "refused"


class AddressRefused(OSError):
    """EgressRefused where a socket library expects an OSError (aiohttp's resolver and socket factory)."""


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
