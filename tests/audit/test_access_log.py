"""Who may see what the audit log holds: an entry's proof for the operator, the acting department and the
citizen only; the citizen's own access log, masked and paged."""

from __future__ import annotations

from datetime import date, timedelta

from hub.audit.service import AuditEvent
from hub.core.national_ids import make_resident_id, mask_resident_id
from tests.conftest import bearer, citizen_headers
from tests.support.audit_log import ALICE, BOB, CIVIL, T0, query_event, record


def test_proof_is_shown_to_the_operator_the_acting_department_and_the_citizen_only(hub, departments):
    civil, police = departments["civil"], departments["police"]
    ref = record(hub, [query_event((civil["code"], civil["name"]), ALICE)])[0]
    path = f"/audit/entries/{ref.id}/proof"
    allowed = [hub.operator_headers(), bearer(hub, civil), citizen_headers(hub, ALICE)]
    for headers in allowed:
        assert hub.client.get(path, headers=headers).status_code == 200
    unknown = hub.client.get("/audit/entries/" + "0" * 32 + "/proof", headers=bearer(hub, police))
    for headers in (bearer(hub, police), citizen_headers(hub, BOB)):
        hidden = hub.client.get(path, headers=headers)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == unknown.json()["detail"]  # existence is not revealed


def test_citizen_sees_only_queries_about_them_masked_newest_first(hub):
    carol = make_resident_id("440305", date(2001, 1, 9), 40, "F")
    dave = make_resident_id("440305", date(2001, 1, 9), 41, "M")
    labour = ("11990100MB00000510", "示例市人力资源和社会保障局")
    events = [query_event(CIVIL, carol, 1), query_event(labour, dave, 2), query_event(labour, carol, 3),
              AuditEvent(kind="consent.decision", actor="citizen:x", subject=carol, data={"decision": "approved"}),
              query_event(CIVIL, carol, 4)]
    refs = [record(hub, [event], T0 + timedelta(seconds=n))[0] for n, event in enumerate(events)]
    response = hub.client.get("/me/access-log", headers=citizen_headers(hub, carol))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["entry_id"] for item in page["items"]] == [refs[4].id, refs[2].id, refs[0].id]
    assert page["subject"] == mask_resident_id(carol) and carol not in response.text
    first = page["items"][0]
    assert first["requester_code"] == CIVIL[0] and first["requester_name"] == CIVIL[1]
    assert first["fields"] == ["name", "household_address"] and first["purpose"] == "婚姻登记核验 #4"
    assert first["source_id"] == "household.residents" and first["leaf_hash"] == refs[4].leaf_hash
    assert first["time"] == "2026-11-21T04:00:04.000000Z"
    others = hub.client.get("/me/access-log", headers=citizen_headers(hub, dave)).json()
    assert [item["entry_id"] for item in others["items"]] == [refs[1].id]


def test_access_log_pages_with_before(hub):
    erin = make_resident_id("500101", date(1970, 6, 1), 7, "F")
    refs = [record(hub, [query_event(CIVIL, erin, n)], T0 + timedelta(minutes=n))[0] for n in range(5)]
    headers = citizen_headers(hub, erin)
    seen, before = [], None
    for _ in range(3):
        query = "?limit=2" + (f"&before={before}" if before is not None else "")
        page = hub.client.get("/me/access-log" + query, headers=headers).json()
        seen += [item["entry_id"] for item in page["items"]]
        before = page["next_before"]
    assert seen == [ref.id for ref in reversed(refs)] and before is None
    for query in ("?limit=0", "?limit=201", "?before=-1", "?before=x"):
        assert hub.client.get("/me/access-log" + query, headers=headers).status_code == 422


def test_access_log_needs_a_citizen_token(hub, departments):
    assert hub.client.get("/me/access-log").status_code == 401
    assert hub.client.get("/me/access-log", headers=bearer(hub, departments["civil"])).status_code == 403
    assert hub.client.get("/me/access-log", headers=hub.operator_headers()).status_code == 403


# --- Tampering behind the hub's back -------------------------------------------------------------------
