"""Issuance, idempotency, retrieval and online verification, on both backend pairs."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import cbor2
import zxingcpp
from PIL import Image
from sqlalchemy import func, select, update

from hub.auth.tokens import Principal
from hub.licenses.many import IssueOutcome, issue_many
from hub.licenses.models import Holder, LicenseIssue
from hub.licenses.tables import License, LicenseEvent
from hub.verification.models import VerifyOut
from hub.status.service import FILL_LIMIT
from hub.status.tables import StatusList
from hub.trust.signing import encode_qr
from license_verifier.identifiers import parse_license_identifier
from license_verifier.qr import decode_qr
from tests.support import qr_sizes
from tests.conftest import bearer
from tests.support.licenses import BUSINESS, business_license_request, company_id, no_crime_request
from tests.vectors import make_vectors as mv


def _count(hub) -> int:
    with hub.app.state.services.session_factory() as session:
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
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
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


# --- bulk issuance (the batch path) ---------------------------------------------------------------------------


def _principal(department: dict) -> Principal:
    return Principal(client_id=department["client"]["client_id"], role="department", department_id=department["id"],
                     scopes=frozenset({"licenses:issue"}))


def _issue_many(hub, department: dict, items: list[tuple[dict, str | None]]) -> list[IssueOutcome]:
    state = hub.app.state.services
    with state.session_factory.begin() as session:
        return issue_many(session, [(LicenseIssue.model_validate(body), key) for body, key in items],
                          principal=_principal(department), types=state.license_types, keyring=state.keyring,
                          now=state.clock())


def test_bulk_issued_licenses_are_numbered_in_order_and_verify(hub, departments):
    outcomes = _issue_many(hub, departments["market"], [(business_license_request(), None) for _ in range(6)])
    assert all(o.created and o.error is None for o in outcomes)
    serials = [int(parse_license_identifier(o.identifier).serial) for o in outcomes]
    assert serials == list(range(serials[0], serials[0] + 6))  # one counter update, consecutive serials
    with hub.app.state.services.session_factory() as session:
        rows = session.scalars(select(License).where(License.identifier.in_([o.identifier for o in outcomes]))).all()
        events = session.scalar(select(func.count()).select_from(LicenseEvent)
                                .where(LicenseEvent.license_id.in_([r.id for r in rows])))
    assert len(rows) == 6 and events == 6 and len({(r.status_list_no, r.status_index) for r in rows}) == 6
    for row in rows:
        verified = hub.client.post("/verify", json={"qr": row.qr_text}).json()
        assert verified["status"] == "valid" and verified["license"]["id"] == row.identifier


def test_bulk_issuance_fails_bad_requests_alone_with_issue_license_errors(hub, departments):
    bad_id = business_license_request()
    bad_id["holder"]["id"] = bad_id["holder"]["id"][:-1] + ("0" if bad_id["holder"]["id"][-1] != "0" else "1")
    items = [(business_license_request(), None), (business_license_request(type="91350100M000100Y43999"), None),
             (bad_id, None), (no_crime_request(), None), (business_license_request(valid_from="1999-01-01"), None),
             (business_license_request(), None)]
    before = _count(hub)
    outcomes = _issue_many(hub, departments["market"], items)
    assert [o.error.code if o.error else "issued" for o in outcomes] == [
        "issued", "unknown_license_type", "invalid_license_data", "issuer_not_allowed", "validation_error", "issued"]
    assert outcomes[2].error.extra["errors"][0]["field"] == "holder.id"
    first, last = (int(parse_license_identifier(outcomes[i].identifier).serial) for i in (0, 5))
    assert _count(hub) == before + 2 and last == first + 1  # no serial taken by a failed request


def test_bulk_issuance_replays_known_keys_and_refuses_a_key_for_another_request(hub, departments):
    market, tag = departments["market"], hub.backend
    bodies = [business_license_request() for _ in range(3)]
    first = _issue_many(hub, market, [(body, f"bulk-{tag}-{i}") for i, body in enumerate(bodies)])
    before = _count(hub)
    other = business_license_request()
    again = _issue_many(hub, market, [(bodies[0], f"bulk-{tag}-0"), (other, f"bulk-{tag}-1"),
                                      (bodies[2], f"bulk-{tag}-2"), (other, f"bulk-{tag}-3"),
                                      (other, f"bulk-{tag}-3"), (bodies[0], f"bulk-{tag}-3")])
    assert [(o.identifier, o.created) for o in (again[0], again[2])] == [(first[0].identifier, False),
                                                                         (first[2].identifier, False)]
    assert again[1].error.code == "idempotency_key_reused"
    assert again[3].created and (again[4].identifier, again[4].created) == (again[3].identifier, False)
    assert again[5].error.code == "idempotency_key_reused"  # the key was taken earlier in the same call
    assert _count(hub) == before + 1


def test_bulk_allocation_opens_the_next_list_pair_at_half_full(hub, departments):
    market = departments["market"]
    _issue_many(hub, market, [(business_license_request(), None)])  # the market's list pair exists
    lists = StatusList.__table__
    with hub.app.state.services.session_factory.begin() as session:
        newest = session.scalar(select(func.max(lists.c.list_no)).where(lists.c.issuer_department_id == market["id"]))
        session.execute(update(lists).where(lists.c.issuer_department_id == market["id"], lists.c.list_no == newest)
                        .values(allocated=FILL_LIMIT - 3))
    outcomes = _issue_many(hub, market, [(business_license_request(), None) for _ in range(10)])
    with hub.app.state.services.session_factory() as session:
        rows = session.execute(select(License.status_list_no, License.status_index)
                               .where(License.identifier.in_([o.identifier for o in outcomes]))).all()
        counts = dict(session.execute(select(lists.c.list_no, lists.c.allocated).where(
            lists.c.issuer_department_id == market["id"], lists.c.purpose == "revocation")).all())
    assert sorted(no for no, _ in rows) == [newest] * 3 + [newest + 1] * 7
    assert counts[newest] == FILL_LIMIT and counts[newest + 1] == 7
    assert len(set(rows)) == 10


def test_issuance_moves_to_the_next_list_when_the_open_one_fills(hub, departments):
    market, lists = departments["market"], StatusList.__table__
    headers = bearer(hub, departments["market"])
    assert hub.client.post("/licenses", json=business_license_request(), headers=headers).status_code == 201
    with hub.app.state.services.session_factory.begin() as session:  # the list this process has seen open fills up
        newest = session.scalar(select(func.max(lists.c.list_no)).where(lists.c.issuer_department_id == market["id"]))
        session.execute(update(lists).where(lists.c.issuer_department_id == market["id"], lists.c.list_no == newest)
                        .values(allocated=FILL_LIMIT - 1))
    ids = [hub.client.post("/licenses", json=business_license_request(), headers=headers).json()["id"]
           for _ in range(3)]
    with hub.app.state.services.session_factory() as session:
        placed = session.scalars(select(License.status_list_no).where(License.identifier.in_(ids))
                                 .order_by(License.serial)).all()
        allocated = session.scalar(select(lists.c.allocated).where(
            lists.c.issuer_department_id == market["id"], lists.c.list_no == newest, lists.c.purpose == "revocation"))
    assert placed == [newest, newest + 1, newest + 1] and allocated == FILL_LIMIT


def test_concurrent_issuances_get_distinct_serials_and_indexes(hub, departments):
    # 40 at once: as many as the server's thread pool runs, more than the database pool holds (each
    # request also takes a counter connection on PostgreSQL, from a pool of its own)
    headers = bearer(hub, departments["market"])

    def issue(_):
        return hub.client.post("/licenses", json=business_license_request(), headers=headers)

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(issue, range(40)))
    assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses if r.status_code != 201]
    ids = [r.json()["id"] for r in responses]
    with hub.app.state.services.session_factory() as session:
        rows = session.execute(select(License.serial, License.status_list_no, License.status_index)
                               .where(License.identifier.in_(ids))).all()
    assert len({serial for serial, _, _ in rows}) == 40 and len({(n, i) for _, n, i in rows}) == 40


def test_openapi_describes_the_issuance_body_and_its_idempotency_key(hub):
    operation = hub.client.get("/openapi.json").json()["paths"]["/licenses"]["post"]
    assert "201" in operation["responses"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) >= {"type", "holder", "data"}
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]


def test_an_issued_qr_has_the_documented_elements_and_the_measured_size(hub, departments):
    name = qr_sizes._ENTERPRISE[:30]
    request = business_license_request(holder={"id_type": "credit_code", "id": company_id(), "name": name})
    body = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["market"])).json()
    decoded = decode_qr(body["qr"])
    assert len(cbor2.loads(decoded.payload)) == qr_sizes.documented_payload_elements()
    # The measuring builder of docs/qr-format.md section 10 encodes what issuance encodes.
    types = hub.app.state.services.license_types
    claims = qr_sizes.claims_for(types[BUSINESS], Holder(**request["holder"]), request["data"],
                                 serial=decoded.claims.serial, status_ref=decoded.claims.status_ref)
    assert claims.valid_from == decoded.claims.valid_from
    measured = encode_qr(claims, mv.load_keys()["dept-a"].signer)
    assert cbor2.loads(decode_qr(measured).payload) == cbor2.loads(decoded.payload)
    assert len(measured) == len(body["qr"])


def test_license_record_links_its_files_history_and_status_list_entries(hub, departments):
    headers = bearer(hub, departments["market"])
    body = hub.client.post("/licenses", json=business_license_request(), headers=headers).json()
    links = {name: url.removeprefix(hub.settings.public_url) for name, url in body["links"].items()
             if name != "status_lists"}
    expected = {"self": "application/json", "pdf": "application/pdf", "vc": "application/vc+jwt",
                "history": "application/json", "qr_png": "image/png", "qr_svg": "image/svg+xml"}
    assert set(links) == set(expected)
    for name, media_type in expected.items():
        response = hub.client.get(links[name], headers=headers)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media_type), name
    assert hub.client.get(links["self"], headers=headers).json()["id"] == body["id"]
    assert [event["action"] for event in hub.client.get(links["history"], headers=headers).json()] == ["issued"]
    vc = hub.client.get(links["vc"], headers=headers).text.split(".")[1]
    credential = json.loads(base64.urlsafe_b64decode(vc + "=" * (-len(vc) % 4)))
    in_vc = {(e["statusPurpose"], e["statusListCredential"], int(e["statusListIndex"]))
             for e in credential["credentialStatus"]}
    linked = {(e["purpose"], e["url"], e["index"]) for e in body["links"]["status_lists"]}
    assert linked == in_vc and {purpose for purpose, _, _ in linked} == {"revocation", "suspension"}
    for _, url, _ in linked:
        status_list = hub.client.get(url.removeprefix(hub.settings.public_url))
        assert status_list.status_code == 200 and status_list.headers["content-type"] == "application/vc+jwt"
