"""POST /verify is anonymous, so it is rate-limited per client address."""

from __future__ import annotations

from tests.conftest import make_settings
from hub.bootstrap import initialise
from hub.main import create_app
from fastapi.testclient import TestClient


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
