"""Issuance, idempotency, retrieval and online verification, on both backend pairs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import zxingcpp
from PIL import Image
import io

from sqlalchemy import func, select

from hub.core.ids import parse_license_identifier
from hub.licenses.tables import License
from hub.verify.models import VerifyOut
from tests.conftest import bearer
from tests.licenses import BUSINESS, business_license_request, no_crime_request


def _count(hub) -> int:
    with hub.app.state.session_factory() as session:
        return session.scalar(select(func.count()).select_from(License))


def test_license_types_are_listed(hub):
    response = hub.client.get("/license-types")
    assert response.status_code == 200
    names = {t["name"] for t in response.json()}
    assert {"营业执照", "结婚证", "不动产权证书", "无犯罪记录证明", "农民工工资无拖欠证明"} <= names


def test_issued_license_has_a_gb_t_36904_identifier_and_verifies(hub, departments):
    response = hub.client.post("/licenses", json=business_license_request(), headers=bearer(hub, departments["market"]))
    assert response.status_code == 201, response.text
    body = response.json()
    identifier = parse_license_identifier(body["id"])
    assert identifier.type_code == BUSINESS and identifier.issuer_code == departments["market"]["code"]
    assert identifier.version == 1 and identifier.serial.startswith("2026")
    assert body["qr"].startswith("HUB1:") and body["valid_until"] is None
    verified = hub.client.post("/verify", json={"qr": body["qr"]}).json()
    VerifyOut.model_validate(verified)  # the documented response model describes the real answer
    assert verified["valid"] is True and verified["status"] == "valid"
    assert verified["license"]["id"] == body["id"]
    assert verified["license"]["fields"] == {"legal_representative": "林建华"}
    assert verified["issuer"]["code"] == departments["market"]["code"]


def test_qr_images_decode_back_to_the_license_text(hub, departments):
    headers = bearer(hub, departments["market"])
    body = hub.client.post("/licenses", json=business_license_request(), headers=headers).json()
    png = hub.client.get(f"/licenses/{body['id']}/qr.png", headers=headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [d.text for d in decoded] == [body["qr"]]
    svg = hub.client.get(f"/licenses/{body['id']}/qr.svg", headers=headers)
    assert svg.status_code == 200 and svg.content.startswith(b"<?xml") and b"<svg" in svg.content


def test_resident_license_shows_a_masked_id_to_the_counter(hub, departments):
    request = no_crime_request()
    body = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"])).json()
    assert body["valid_until"] == "2027-02-18"  # 90 days from 2026-11-21, inclusive
    verified = hub.client.post("/verify", json={"qr": body["qr"]}).json()
    holder_id = request["holder"]["id"]
    assert verified["license"]["holder"]["id"] == holder_id[:6] + "*" * 8 + holder_id[-4:]


def test_expired_and_not_yet_valid_follow_the_clock(hub, departments):
    request = no_crime_request(valid_from="2026-12-01", valid_until="2026-12-31")
    qr = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"])).json()["qr"]
    assert hub.client.post("/verify", json={"qr": qr}).json()["status"] == "not_yet_valid"
    original = hub.clock.now
    try:
        hub.clock.now = datetime(2026, 12, 31, 15, 59, tzinfo=timezone.utc)  # 23:59 in China
        assert hub.client.post("/verify", json={"qr": qr}).json()["status"] == "valid"
        hub.clock.now += timedelta(minutes=1)  # 2027-01-01 00:00 +08:00
        assert hub.client.post("/verify", json={"qr": qr}).json()["status"] == "expired"
    finally:
        hub.clock.now = original


def test_same_idempotency_key_and_body_returns_the_same_license(hub, departments):
    headers = bearer(hub, departments["market"]) | {"Idempotency-Key": "order-42"}
    request = business_license_request()
    first = hub.client.post("/licenses", json=request, headers=headers)
    before = _count(hub)
    again = hub.client.post("/licenses", json=request, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and _count(hub) == before


def test_same_idempotency_key_with_another_body_is_409_and_issues_nothing(hub, departments):
    headers = bearer(hub, departments["market"]) | {"Idempotency-Key": "order-43"}
    assert hub.client.post("/licenses", json=business_license_request(), headers=headers).status_code == 201
    before = _count(hub)
    response = hub.client.post("/licenses", json=business_license_request(), headers=headers)
    assert response.status_code == 409 and response.json()["type"] == "urn:hub:problem:idempotency_key_reused"
    assert _count(hub) == before


def test_invalid_data_lists_every_problem_and_issues_nothing(hub, departments):
    before = _count(hub)
    request = business_license_request(data={"legal_representative": "", "established": "2015-13-45", "x": 1})
    request["holder"]["id"] = request["holder"]["id"][:-1] + ("0" if request["holder"]["id"][-1] != "0" else "1")
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["market"]))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"holder.id", "legal_representative", "established", "x"} <= fields
    assert _count(hub) == before


def test_department_not_allowed_for_the_type_is_403(hub, departments):
    response = hub.client.post("/licenses", json=business_license_request(), headers=bearer(hub, departments["civil"]))
    assert response.status_code == 403 and response.json()["type"] == "urn:hub:problem:issuer_not_allowed"


def test_unknown_type_and_wrong_holder_kind_are_422(hub, departments):
    headers = bearer(hub, departments["market"])
    unknown = hub.client.post("/licenses", json=business_license_request(type="91350100M000100Y43999"), headers=headers)
    assert unknown.status_code == 422 and unknown.json()["type"] == "urn:hub:problem:unknown_license_type"
    person = no_crime_request()["holder"]
    wrong = hub.client.post("/licenses", json=business_license_request(holder=person), headers=headers)
    assert wrong.status_code == 422


def test_valid_until_before_valid_from_is_422(hub, departments):
    request = no_crime_request(valid_from="2026-12-01", valid_until="2026-11-01")
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"]))
    assert response.status_code == 422


def test_serials_increase_per_issuer_and_type(hub, departments):
    headers = bearer(hub, departments["market"])
    ids = [hub.client.post("/licenses", json=business_license_request(), headers=headers).json()["id"]
           for _ in range(3)]
    serials = [int(parse_license_identifier(i).serial) for i in ids]
    assert serials == sorted(serials) and len(set(serials)) == 3


def test_unknown_license_is_404(hub, departments):
    headers = bearer(hub, departments["market"])
    for path in ("/licenses/1.2.156.3005.2.x", "/licenses/nothing/qr.png", "/licenses/" + "9" * 300):
        response = hub.client.get(path, headers=headers)
        assert response.status_code == 404, path


def test_issuance_log_masks_the_holder_id(hub, departments, caplog):
    request = no_crime_request()
    with caplog.at_level("INFO", logger="hub.licenses"):
        assert hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"])).status_code == 201
    holder_id = request["holder"]["id"]
    assert holder_id[:6] + "********" + holder_id[-4:] in caplog.text
    assert holder_id not in caplog.text
