"""Rate limits behind a reverse proxy: X-Forwarded-For counts only when a trusted proxy sent it."""

from __future__ import annotations

from ipaddress import ip_network

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.bootstrap import initialise
from hub.core.addresses import ClientAddresses
from hub.core.errors import problem
from hub.core.settings import Settings
from hub.main import create_app
from tests.conftest import make_settings
from tests.support.servers import ServerThread

PROXIES = [ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"), ip_network("192.0.2.10/32")]


def _scope(peer: str, *forwarded: str) -> dict:
    return {"client": (peer, 40000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


@pytest.mark.parametrize("peer,forwarded,client", [
    ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),  # not a proxy: its header proves nothing
    ("10.1.2.3", [], "10.1.2.3"),
    ("10.1.2.3", ["203.0.113.1"], "203.0.113.1"),
    ("10.1.2.3", ["1.1.1.1, 203.0.113.1"], "203.0.113.1"),  # the client wrote 1.1.1.1 itself
    ("10.1.2.3", ["1.1.1.1, 203.0.113.1, 10.9.9.9"], "203.0.113.1"),  # through two proxies
    ("10.1.2.3", ["1.1.1.1", "203.0.113.1, 10.9.9.9"], "203.0.113.1"),  # one header per proxy
    ("10.1.2.3", ["10.9.9.9, 10.8.8.8"], "10.9.9.9"),  # only proxies: the first is the nearest we know
    ("10.1.2.3", ["203.0.113.1, garbage"], "10.1.2.3"),  # a hop that is not an address stops the walk
    ("10.1.2.3", ["203.0.113.1:5123"], "203.0.113.1"),
    ("10.1.2.3", ["[2001:db8::1]:443, 2001:db9::5"], "2001:db9::5"),
    ("::ffff:10.1.2.3", ["203.0.113.9"], "203.0.113.9"),  # an IPv4 proxy seen through a dual-stack socket
    ("testclient", ["203.0.113.1"], "testclient"),
])
def test_the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy(peer, forwarded, client):
    assert ClientAddresses(PROXIES).of(_scope(peer, *forwarded)) == client


def test_without_trusted_proxies_the_header_is_ignored():
    assert ClientAddresses().of(_scope("10.1.2.3", "203.0.113.1")) == "10.1.2.3"


def test_every_429_carries_retry_after():
    assert problem(429, "rate_limited", "Too many requests", "x", "/").headers["retry-after"].isdigit()


def _hub(tmp_path, request, proxies: list[str]):
    settings = make_settings("sqlite+files", tmp_path, request)
    settings.verify_rate_limit = "2/minute"
    settings.token_failure_limit_per_address = "2/minute"
    settings.trusted_proxies = [ip_network(p) for p in proxies]
    initialise(settings)
    return create_app(settings)


def _verify_statuses(post, addresses: list[str | None]) -> list[int]:
    statuses = []
    for address in addresses:
        headers = {"X-Forwarded-For": address} if address else {}
        response = post("/verify", json={"qr": "HUB1:x"}, headers=headers)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
        statuses.append(response.status_code)
    return statuses


def test_behind_a_trusted_proxy_each_client_has_its_own_budget_over_a_socket(tmp_path, request):
    with ServerThread(_hub(tmp_path, request, ["127.0.0.1"]), proxy_headers=False) as url, \
            httpx.Client(base_url=url) as http:
        a, b = "203.0.113.1", "203.0.113.2"
        assert _verify_statuses(http.post, [a, a, a, b, b, None, None, None]) == [200, 200, 429, 200, 200,
                                                                                  200, 200, 429]


def test_an_untrusted_peer_cannot_buy_a_new_budget_with_a_header_over_a_socket(tmp_path, request):
    with ServerThread(_hub(tmp_path, request, ["10.0.0.0/8"]), proxy_headers=False) as url, \
            httpx.Client(base_url=url) as http:
        assert _verify_statuses(http.post, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [200, 200, 429]


def test_the_token_endpoint_counts_failures_by_the_same_address(tmp_path, request):
    app = _hub(tmp_path, request, ["192.0.2.10"])
    with TestClient(app, base_url="http://localhost", client=("192.0.2.10", 5000)) as client:
        def fail(address: str) -> int:
            return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"),
                               headers={"X-Forwarded-For": address}).status_code
        assert [fail("198.51.100.1") for _ in range(3)] == [401, 401, 429]
        assert fail("198.51.100.2") == 401
        assert _verify_statuses(client.post, ["198.51.100.1", "198.51.100.1", "198.51.100.1"]) == [200, 200, 429]


def test_trusted_proxies_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16 2001:db8::/32")
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.1/32", "192.168.0.0/16", "2001:db8::/32"]
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        Settings()
