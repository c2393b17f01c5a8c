"""Control characters (NUL above all) anywhere in a request: a 422 problem naming where, never a 500, nothing written.

Each case was a 500 on PostgreSQL, which cannot store NUL in text (psycopg refuses it as a parameter too):
holder names, grant and consent purposes, lifecycle reasons, ids in paths and query strings, a form client_id.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.auth.tables import OAuthClient
from hub.exchange.tables import Consent
from hub.licenses.tables import License, LicenseEvent
from hub.catalogue.tables import Grant, Source
from tests.conftest import bearer
from tests.support.licenses import business_license_request, resident_id

SOURCE = {
    "id": "civil.controls", "name": "婚姻登记信息", "category": "人口信息", "subject_key": "resident_id",
    "sharing_class": "conditional",
    "fields": [{"name": "marital_status", "type": "string", "label": "婚姻状况", "sensitivity": "sensitive_personal"}],
    "connector": {"type": "bulk", "config": {"format": "csv", "subject_field": "resident_id"}},
}
TABLES = (License, LicenseEvent, Grant, Consent, Source, OAuthClient)


def _row_counts(hub) -> tuple[int, ...]:
    with hub.app.state.services.session_factory() as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) for table in TABLES)


def _assert_refused(response, where: str, code: str = "control_character") -> None:
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:hub:problem:{code}" and body["where"] == where, body


@pytest.fixture(scope="module")
def setting(hub, departments) -> dict:
    """A license, a source and a pending grant to aim the requests at, and the callers' headers."""
    market, civil, land = (bearer(hub, departments[k]) for k in ("market", "civil", "land"))
    issued = hub.client.post("/licenses", json=business_license_request(), headers=market)
    assert issued.status_code == 201, issued.text
    assert hub.client.post("/sources", json=SOURCE, headers=civil).status_code == 201
    grant = hub.client.post("/grants", json={"source": SOURCE["id"], "fields": ["marital_status"],
                                             "purpose": "不动产登记", "legal_basis": "细则第十一条"}, headers=land)
    assert grant.status_code == 201, grant.text
    return {"license": issued.json()["id"], "grant": grant.json()["id"], "market": market, "civil": civil,
            "land": land, "operator": hub.operator_headers()}


def _cases(s: dict) -> list[tuple[str, str, dict, str]]:
    """(method, url, request keywords, where it is refused) for every request that was a 500."""
    license_id, grant_id = s["license"], s["grant"]
    name_with_nul = business_license_request()
    name_with_nul["holder"]["name"] = "福州闽江\u0000数字科技有限公司"
    consent = {"subject": resident_id(), "source": SOURCE["id"], "fields": ["marital_status"], "purpose": "办理\u0000"}
    grant = {"source": SOURCE["id"], "fields": ["marital_status"], "purpose": "不动产\u0000登记",
             "legal_basis": "细则第十一条"}
    return [
        ("POST", "/licenses", {"json": name_with_nul, "headers": s["market"]}, "body"),
        ("POST", "/licenses", {"content": b'{"type": "\x00"}', "headers": s["market"]}, "body"),
        ("POST", "/grants", {"json": grant, "headers": s["land"]}, "body"),
        ("POST", "/consents", {"json": consent, "headers": s["land"]}, "body"),
        ("POST", f"/licenses/{license_id}/suspend", {"json": {"reason": "核查\u0000"}, "headers": s["market"]}, "body"),
        ("POST", f"/licenses/{license_id}/revoke", {"json": {"reason": "\u0000"}, "headers": s["market"]}, "body"),
        ("POST", f"/grants/{grant_id}/reject", {"json": {"reason": "不\u0000予"}, "headers": s["civil"]}, "body"),
        ("POST", "/departments", {"json": {"code": "91350100M000100Y43", "name": "数据局\u0000", "region": "示例市"},
                                  "headers": s["operator"]}, "body"),
        ("GET", f"/licenses/{license_id}%00", {"headers": s["market"]}, "path"),
        ("GET", "/licenses/%00", {"headers": s["market"]}, "path"),
        ("POST", f"/licenses/{license_id}%00/revoke", {"json": {"reason": "x"}, "headers": s["market"]}, "path"),
        ("GET", f"/grants/{grant_id}%00", {"headers": s["land"]}, "path"),
        ("GET", "/consents/a%00b", {"headers": s["land"]}, "path"),
        ("GET", "/jobs/a%00b", {"headers": s["market"]}, "path"),
        ("GET", "/sources/civil.controls%00", {"headers": s["land"]}, "path"),
        ("POST", "/exchange/civil.controls%00/query", {"json": {"subject": "x", "fields": ["a"], "purpose": "p"},
                                                       "headers": s["land"]}, "path"),
        ("GET", "/sources?category=%E4%BA%BA%00", {"headers": s["land"]}, "query"),
        ("GET", "/sources?owner=11990100MB0000027F%00", {"headers": s["land"]}, "query"),
        ("POST", "/oauth/token", {"content": b"grant_type=client_credentials&client_id=a%00b&client_secret=x",
                                  "headers": {"content-type": "application/x-www-form-urlencoded"}}, "body"),
        ("POST", "/licenses", {"json": business_license_request(),
                               "headers": s["market"] | {"Idempotency-Key": "k\x00"}}, "header"),
        ("POST", "/verify", {"json": {"qr": "HUB1:\u0000"}}, "body"),
    ]


def test_control_characters_are_refused_before_anything_is_stored(hub, setting):
    before = _row_counts(hub)
    for method, url, keywords, where in _cases(setting):
        response = hub.client.request(method, url, **keywords)
        _assert_refused(response, where)
    assert _row_counts(hub) == before


@pytest.mark.parametrize("body", [
    b'{"qr": "a\\u0001"}', b'{"qr": "a\\u001F"}', b'{"qr": "a\\u007f"}', b'{"qr": "a\x7f"}', b'{"q\\u0000r": "a"}',
    b'{"qr": "\\\\\\u0000"}',  # an escaped backslash, then an escaped NUL
])
def test_escaped_and_raw_control_characters_in_json_are_refused(hub, body):
    _assert_refused(hub.client.post("/verify", content=body, headers={"content-type": "application/json"}), "body")


@pytest.mark.parametrize("body", [
    b'{"qr": "HUB1:a\\\\u0000"}',  # the text \u0000 (an escaped backslash, then u0000): no control character
    b'{"qr": "HUB1:line\\nbreak\\ttab\\r"}',  # tab, LF and CR pass the guard; fields judge them
    b'{"qr": "HUB1:\\ud83d\\ude00"}',  # a surrogate pair: one emoji
])
def test_json_text_that_only_looks_like_a_control_character_passes(hub, body):
    response = hub.client.post("/verify", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["status"] == "malformed", response.text


@pytest.mark.parametrize("body", [b'{"qr": "\\ud800"}', b'{"qr": "\\udc00x"}', b'{"qr": "\\ud800\\ud800\\udc00"}'])
def test_lone_surrogates_are_refused(hub, departments, body):
    _assert_refused(hub.client.post("/verify", content=body, headers={"content-type": "application/json"}), "body",
                    code="invalid_unicode")
    operator = hub.operator_headers() | {"content-type": "application/json"}
    department = body.replace(b'"qr"', b'"code": "91350100M000100Y43", "region": "x", "name"')
    _assert_refused(hub.client.post("/departments", content=department, headers=operator), "body",
                    code="invalid_unicode")


def test_a_form_with_a_line_break_in_a_parameter_is_refused(hub):
    response = hub.client.post("/oauth/token", content=b"grant_type=client_credentials%0A&client_id=x",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_refused(response, "body")


def test_uploads_are_left_to_their_readers(hub, departments, setting):
    civil = setting["civil"] | {"content-type": "text/csv"}
    csv = f"resident_id,marital_status\r\n{resident_id()},已婚\x00\r\n{resident_id()},未婚\r\n".encode()
    response = hub.client.post(f"/sources/{SOURCE['id']}/import", content=csv, headers=civil)
    assert response.status_code == 200, response.text  # the reader judged each row, the guard none
    assert response.json()["imported"] + response.json()["failed"] == 2


def test_a_streamed_body_over_the_limit_is_still_413_while_it_is_checked(hub):
    chunks = (b"x" * 65536 for _ in range(20))  # no Content-Length: the limit is met while reading
    response = hub.client.post("/verify", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["type"] == "urn:hub:problem:payload_too_large"
