"""What the hub writes to its audit log: issuance and verification, each about its holder."""

from __future__ import annotations

import json

import sqlalchemy as sa

from hub.audit.service import subject_ref
from hub.audit.tables import AuditEntry
from tests.conftest import bearer
from tests.support.licenses import no_crime_request


def _entries(hub, kind: str) -> list[AuditEntry]:
    with hub.app.state.services.session_factory() as session:
        return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.kind == kind)))


def test_issuance_and_verification_are_in_the_log_about_the_holder(hub, departments):
    request = no_crime_request()
    issued = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"]))
    assert issued.status_code == 201, issued.text
    license_id = issued.json()["id"]
    holder_ref = subject_ref(hub.app.state.services.pepper, request["holder"]["id"])

    issue = [e for e in _entries(hub, "license.issued") if json.loads(e.data)["license_id"] == license_id]
    assert len(issue) == 1 and issue[0].subject_ref == holder_ref
    assert issue[0].actor == departments["police"]["code"]

    assert hub.client.post("/verify", json={"qr": issued.json()["qr"]}).json()["status"] == "valid"
    assert hub.client.post("/verify", json={"qr": "HUB1:garbage"}).json()["status"] == "malformed"
    hub.app.state.services.audit.queue.flush()
    verified = [json.loads(e.data) | {"ref": e.subject_ref} for e in _entries(hub, "license.verify")]
    assert {"license_id": license_id, "status": "valid", "ref": holder_ref}.items() <= next(
        v for v in verified if v["license_id"] == license_id).items()
    assert any(v["status"] == "malformed" and v["ref"] is None for v in verified)
    assert request["holder"]["id"] not in json.dumps(verified)


def test_bulk_issuance_appends_one_entry_per_license(hub, departments):
    from hub.auth.tokens import Principal
    from hub.licenses.many import issue_many
    from hub.licenses.models import LicenseIssue

    police = departments["police"]
    principal = Principal(client_id=police["client"]["client_id"], role="department", department_id=police["id"],
                          scopes=frozenset({"licenses:issue"}))
    requests = [(LicenseIssue.model_validate(no_crime_request()), None) for _ in range(3)]
    state = hub.app.state.services
    with state.session_factory.begin() as session:
        outcomes = issue_many(session, requests, principal=principal, types=state.license_types,
                              keyring=state.keyring, now=state.clock())
    issued = {o.identifier for o in outcomes if o.created}
    logged = {json.loads(e.data)["license_id"] for e in _entries(hub, "license.issued")}
    assert len(issued) == 3 and issued <= logged
