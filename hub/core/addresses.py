"""The client's address, as every rate limit counts it.

Without trusted proxies (`HUB_TRUSTED_PROXIES`) it is the TCP peer. When the peer is a trusted proxy, it is
the rightmost address in X-Forwarded-For that is not itself a trusted proxy: each proxy appends the address it
received the request from, so everything left of that hop was written by the client and proves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import Request
from starlette.types import Scope

from hub.core.wiring import services

IPAddress = IPv4Address | IPv6Address


class ClientAddresses:
    """Find the client's address in a request, trusting X-Forwarded-For from the given proxies only."""

    def __init__(self, trusted_proxies: Sequence[IPv4Network | IPv6Network] = ()) -> None:
        self.trusted = tuple(trusted_proxies)

    def of(self, scope: Scope) -> str:
        """Return the client's address (a string; the TestClient's peer is the name "testclient")."""
        peer = scope["client"][0] if scope.get("client") else "unknown"
        if not self.trusted or not self._is_trusted(_parse(peer)):
            return peer
        hops = [hop.strip() for name, value in scope["headers"] if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",")]
        client = peer
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:  # not an address: nothing left of it can be believed either
                return client
            client = str(address)
            if not self._is_trusted(address):
                return client
        return client  # every hop a trusted proxy: the first of them is as near the client as we know

    def _is_trusted(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)


def client_address(request: Request) -> str:
    """Return the address rate limits count this request under."""
    return services(request).client_addresses.of(request.scope)


def _parse(text: str) -> IPAddress | None:
    """Read an address as a proxy may write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:80`; None otherwise."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
