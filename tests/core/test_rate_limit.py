"""POST /verify is anonymous, so it is rate-limited per client address."""

from __future__ import annotations

from tests.conftest import make_settings
from hub.bootstrap import initialise
from hub.main import create_app
from fastapi.testclient import TestClient
from hub.core.ratelimit import RateLimit


def test_verify_is_rate_limited_with_a_429_problem(tmp_path, request):
    settings = make_settings("sqlite+files", tmp_path, request)
    settings.verify_rate_limit = "5/minute"
    initialise(settings)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        statuses = [client.post("/verify", json={"qr": "HUB1:ABC"}).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429, 429]
        refused = client.post("/verify", json={"qr": "HUB1:ABC"})
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "urn:hub:problem:rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert client.get("/health").status_code == 200  # other routes are not affected


def test_the_sliding_window_weighs_the_previous_window_and_forgets_old_keys():
    now = [6010.0]  # ten seconds into a one-minute window
    limit = RateLimit("4/minute", clock=lambda: now[0])
    assert [limit.hit("k") for _ in range(5)] == [True] * 4 + [False]
    assert limit.exceeded("k") and not limit.exceeded("other")
    assert limit.refusal("slow down", "k").retry_after == 50  # when the window turns
    now[0] += 80  # halfway through the next window: the previous window's 4 events count as 2
    assert [limit.hit("k") for _ in range(3)] == [True, True, False]
    now[0] += 120  # two windows later nothing counts, and the key is forgotten on the next window's first hit
    assert limit.hit("other") and not limit.exceeded("k")
    assert list(limit._counts) == [("other",)]
