"""Suspend, reinstate, revoke, re-issue; status lists online and cached offline; on both backend pairs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from hub.core.clock import FixedClock
from hub.licenses.tables import License, LicenseEvent
from hub.status.service import StatusCache
from hub.trust.tables import HubKey
from license_verifier.qr import decode_qr
from license_verifier.statuslist import LIST_SIZE, list_id, verify_status_list
from license_verifier.trustlist import load_trust_list
from license_verifier.verdict import Status, StatusListFreshness
from license_verifier.verifier import verify
from tests.conftest import bearer
from tests.support.licenses import business_license_request, no_crime_request


@pytest.fixture(scope="module")
def police(hub, departments) -> dict:
    return bearer(hub, departments["police"])


def _issue(hub, headers) -> dict:
    response = hub.client.post("/licenses", json=no_crime_request(), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _status(hub, qr: str) -> dict:
    return hub.client.post("/verify", json={"qr": qr}).json()


def _counts(hub) -> tuple[int, int]:
    with hub.app.state.services.session_factory() as session:
        return (session.scalar(select(func.count()).select_from(License)),
                session.scalar(select(func.count()).select_from(LicenseEvent)))


def test_suspend_then_reinstate_is_reflected_by_verify(hub, police):
    issued = _issue(hub, police)
    path = f"/licenses/{issued['id']}"
    suspended = hub.client.post(f"{path}/suspend", json={"reason": "核查中 under review"}, headers=police)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    answer = _status(hub, issued["qr"])
    assert answer["status"] == "suspended" and answer["valid"] is False and answer["status_list"] is not None
    assert hub.client.post(f"{path}/reinstate", json={"reason": "核查完毕"}, headers=police).status_code == 200
    assert _status(hub, issued["qr"])["status"] == "valid"


def test_revoked_license_fails_verification_and_cannot_change_again(hub, police):
    issued = _issue(hub, police)
    path = f"/licenses/{issued['id']}"
    assert hub.client.post(f"{path}/revoke", json={"reason": "申请人撤回"}, headers=police).status_code == 200
    assert _status(hub, issued["qr"])["status"] == "revoked"
    before = _counts(hub)
    for action in ("revoke", "suspend", "reinstate"):
        again = hub.client.post(f"{path}/{action}", json={"reason": "again"}, headers=police)
        assert again.status_code == 409 and again.json()["type"] == "urn:hub:problem:invalid_transition"
    assert _counts(hub) == before


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, {"why": "x"}])
def test_a_reason_is_required(hub, police, body):
    issued = _issue(hub, police)
    before = _counts(hub)
    response = hub.client.post(f"/licenses/{issued['id']}/revoke", json=body, headers=police)
    assert response.status_code == 422
    assert _counts(hub) == before and _status(hub, issued["qr"])["status"] == "valid"


def test_only_the_issuer_changes_a_license(hub, departments, police):
    issued = _issue(hub, police)
    other = hub.client.post(f"/licenses/{issued['id']}/revoke", json={"reason": "x"},
                            headers=bearer(hub, departments["civil"]))
    assert other.status_code == 404
    operator = hub.client.post(f"/licenses/{issued['id']}/revoke", json={"reason": "x"},
                               headers=hub.operator_headers())
    assert operator.status_code == 403
    unknown = hub.client.post("/licenses/1.2.156.3005.2.nothing/revoke", json={"reason": "x"}, headers=police)
    assert unknown.status_code == 404
    assert _status(hub, issued["qr"])["status"] == "valid"


def test_reissue_gives_version_plus_one_and_supersedes_the_old(hub, departments):
    market = bearer(hub, departments["market"])
    old = hub.client.post("/licenses", json=business_license_request(), headers=market).json()
    response = hub.client.post(f"/licenses/{old['id']}/reissue", headers=market, json={
        "reason": "法定代表人变更", "data": {"legal_representative": "陈美玲"}})
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["version"] == 2 and new["id"].split(".")[-2] == "002"
    assert new["id"].split(".")[:-2] == old["id"].split(".")[:-2]  # same type, issuer and serial
    assert new["data"]["legal_representative"] == "陈美玲" and new["data"]["address"] == old["data"]["address"]
    stale = _status(hub, old["qr"])
    assert stale["status"] == "revoked" and stale["superseded_by"] == new["id"]
    fresh = _status(hub, new["qr"])
    assert fresh["status"] == "valid" and fresh["license"]["fields"]["legal_representative"] == "陈美玲"
    again = hub.client.post(f"/licenses/{old['id']}/reissue", headers=market, json={"reason": "x"})
    assert again.status_code == 409
    history = hub.client.get(f"/licenses/{old['id']}/history", headers=market).json()
    assert [e["action"] for e in history] == ["issued", "superseded"]
    assert history[1]["reason"] == "法定代表人变更" and history[1]["related"] == new["id"]
    assert history[1]["actor"] == departments["market"]["client"]["client_id"]


def test_reissue_with_bad_data_changes_nothing(hub, departments):
    market = bearer(hub, departments["market"])
    old = hub.client.post("/licenses", json=business_license_request(), headers=market).json()
    before = _counts(hub)
    response = hub.client.post(f"/licenses/{old['id']}/reissue", headers=market,
                               json={"reason": "x", "data": {"established": "not a date"}})
    assert response.status_code == 422
    assert _counts(hub) == before and _status(hub, old["qr"])["status"] == "valid"


def _root_der(hub) -> bytes:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root"))


def test_status_list_is_signed_full_size_and_cacheable(hub, departments, police):
    issued = _issue(hub, police)
    hub.client.post(f"/licenses/{issued['id']}/revoke", json={"reason": "错误签发"}, headers=police)
    list_no, index = decode_qr(issued["qr"]).claims.status_ref
    identifier = list_id(departments["police"]["code"], list_no, "revocation")
    response = hub.client.get(f"/status-lists/{identifier}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/vc+jwt")
    assert "max-age" in response.headers["cache-control"]
    view = verify_status_list(response.text, _root_der(hub), fetched_at=hub.clock())
    assert len(view.bits) * 8 == LIST_SIZE and view.is_set(index)
    cached = hub.client.get(f"/status-lists/{identifier}", headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304
    assert hub.client.get("/status-lists/nothing-1-revocation").status_code == 404


def test_offline_verifier_uses_a_cached_list_and_says_how_old_it_is(hub, departments, police):
    issued = _issue(hub, police)
    list_no, _ = decode_qr(issued["qr"]).claims.status_ref
    code = departments["police"]["code"]
    root = _root_der(hub)
    trust = load_trust_list(hub.client.get("/trust-list").text, root)

    def cached_lists(fetched_at):
        ids = [list_id(code, list_no, p) for p in ("revocation", "suspension")]
        return {i: verify_status_list(hub.client.get(f"/status-lists/{i}").text, root, fetched_at=fetched_at)
                for i in ids}

    t0 = hub.clock()
    before = cached_lists(t0)
    try:
        hub.clock.now = t0 + timedelta(hours=1)
        hub.client.post(f"/licenses/{issued['id']}/suspend", json={"reason": "暂扣"}, headers=police)
    finally:
        hub.clock.now = t0
    later = t0 + timedelta(hours=2)
    stale = verify(issued["qr"], trust, later, before)
    assert stale.status is Status.VALID  # the copy predates the change, and says so
    assert (stale.status_list.fetched_at, stale.status_list.age_seconds) == (t0, 7200)
    assert stale.status_list.updated_at <= t0
    current = verify(issued["qr"], trust, later, cached_lists(later))
    assert current.status is Status.SUSPENDED
    assert current.status_list == StatusListFreshness(fetched_at=later, updated_at=t0 + timedelta(hours=1),
                                                      age_seconds=0)
    assert verify(issued["qr"], trust, later).status_list is None  # no lists: status not checked


def _rfc3339(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def test_verify_reports_when_its_list_copy_was_fetched_apart_from_the_last_change(hub, police):
    issued = _issue(hub, police)
    path = f"/licenses/{issued['id']}"
    t0 = hub.clock()
    try:
        hub.clock.now = t0 + timedelta(minutes=30)
        assert hub.client.post(f"{path}/suspend", json={"reason": "核查中"}, headers=police).status_code == 200
        answer = _status(hub, issued["qr"])  # the change made this worker reload its copy
        assert answer["status"] == "suspended" and answer["checked_at"] == _rfc3339(hub.clock())
        assert answer["status_list"] == {"fetched_at": _rfc3339(hub.clock()), "age_seconds": 0,
                                         "updated_at": _rfc3339(t0 + timedelta(minutes=30))}
        hub.clock.now = t0 + timedelta(minutes=50)
        hub.app.state.services.status.invalidate()  # as the 5-second refresh does: nothing has changed since
        answer = _status(hub, issued["qr"])
        assert answer["status_list"] == {"fetched_at": _rfc3339(hub.clock()), "age_seconds": 0,
                                         "updated_at": _rfc3339(t0 + timedelta(minutes=30))}
    finally:
        hub.clock.now = t0
    assert _status(hub, "HUB1:garbage")["status_list"] is None  # nothing was looked up


def test_the_hubs_list_copy_ages_until_it_is_reloaded(hub, police):
    issued = _issue(hub, police)
    clock = FixedClock(hub.clock())
    cache = StatusCache(hub.app.state.services.session_factory, passphrase=hub.settings.passphrase(),
                        base_url=hub.settings.public_url, clock=clock, ttl=3600)
    trust = hub.app.state.services.trust.trust()
    fetched = clock()
    assert {view.fetched_at for view in cache.lists().values()} == {fetched}
    clock.now += timedelta(seconds=120)
    held = verify(issued["qr"], trust, clock(), cache.lists())  # still fresh: not reloaded
    assert (held.status_list.fetched_at, held.status_list.age_seconds) == (fetched, 120)
    cache.invalidate()
    reloaded = verify(issued["qr"], trust, clock(), cache.lists())
    assert (reloaded.status_list.fetched_at, reloaded.status_list.age_seconds) == (clock(), 0)
    assert reloaded.status_list.updated_at == held.status_list.updated_at  # no change in between


def test_status_indexes_do_not_reveal_the_issuance_order(hub, police):
    indexes = [decode_qr(_issue(hub, police)["qr"]).claims.status_ref[1] for _ in range(12)]
    assert len(set(indexes)) == 12 and indexes != sorted(indexes)
    assert max(indexes) - min(indexes) > LIST_SIZE // 8  # spread over the list, not clustered
