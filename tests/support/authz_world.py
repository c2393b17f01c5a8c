"""The principals and resources the authorisation matrix calls with: built once per hub, plus fresh ones on demand.

Departments: `owner` (market: issues business licenses, owns the bulk sources, asks the citizen for consent, submits
the batch job, queried the citizen), `party` (civil: the other side of two-party resources — it asks for the grants on
the owner's source and owns the source the consents are about), `other dept` (land: no part in any resource).
Citizens: `citizen` is the data subject of the consents and of the audit entry; `other citizen` is nobody's subject.
Only bulk (imported) sources are used, so no cell depends on a connector target being reachable or approved.

Grants are all on one source (`granted_source`) and queries go to another (`source_id`) that nobody holds a grant
on, so a grant approved by one cell cannot change what another cell's query gets.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field

import orjson

from license_verifier.qr import decode_qr
from license_verifier.statuslist import list_id
from tests.conftest import Hub, bearer, citizen_headers
from tests.support.licenses import business_license_request, resident_id

PRINCIPALS = ("anonymous", "citizen", "other citizen", "other dept", "party", "owner", "operator")
CLIENTS = ("other dept", "party", "owner", "operator")  # the principals that hold OAuth client credentials
FIELDS = [{"name": "name", "type": "string", "label": "姓名", "sensitivity": "personal"},
          {"name": "months_paid", "type": "integer", "label": "缴费月数", "sensitivity": "personal"}]
PURPOSE = "办理就业登记：核验参保缴费月数"
_ids = itertools.count(1)


def bulk_source(source_id: str) -> dict:
    """A data source filled by bulk import (归集): the hub reaches no department system to answer it."""
    return {"id": source_id, "name": "社会保险参保信息", "category": "社会保障", "subject_key": "resident_id",
            "sharing_class": "conditional", "update_frequency": "daily", "fields": FIELDS,
            "connector": {"type": "bulk", "config": {"format": "csv", "subject_field": "resident_id"}}}


@dataclass
class World:
    """One hub's principals (headers, client credentials) and its resources, shared ones by path parameter name."""

    hub: Hub
    departments: dict[str, dict]  # "other dept", "party", "owner": as POST /departments returned them
    headers: dict[str, dict] = field(default_factory=dict)  # per principal; anonymous sends none
    citizen_id: str = ""
    shared: dict[str, str] = field(default_factory=dict)  # path parameter -> a resource read-only cells use

    def client_auth(self, principal: str) -> tuple[str, str]:
        """The principal's OAuth client id and secret (HTTP Basic at the token endpoint)."""
        client = self.hub.operator if principal == "operator" else self.departments[principal]["client"]
        return client["client_id"], client["client_secret"]

    def call(self, who: str, method: str, url: str, *, headers: dict | None = None, **kwargs) -> dict:
        """Make a setup call that must succeed; return its JSON."""
        response = self.hub.client.request(method, url, headers=self.headers[who] | (headers or {}), **kwargs)
        assert response.status_code in (200, 201, 202), f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    def source(self) -> str:
        """A new bulk source of the owner's; its id."""
        return self.call("owner", "POST", "/sources", json=bulk_source(f"authz.src{next(_ids)}"))["id"]

    def license(self) -> str:
        """A new business license issued by the owner; its id."""
        return self.call("owner", "POST", "/licenses", json=business_license_request())["id"]

    def suspended_license(self) -> str:
        identifier = self.license()
        self.call("owner", "POST", f"/licenses/{identifier}/suspend", json={"reason": "核查中"})
        return identifier

    def pending_grant(self) -> str:
        """A new grant the party asked for on the owner's source, awaiting the owner's decision."""
        body = {"source": self.shared["granted_source"], "fields": ["months_paid"], "purpose": PURPOSE,
                "legal_basis": "《社会保险法》第八十一条"}
        return self.call("party", "POST", "/grants", json=body)["id"]

    def egress_rule(self) -> str:
        """A new egress rule the operator approved for the owner; its id."""
        body = {"department": self.departments["owner"]["code"], "target": f"https://rule{next(_ids)}.example:443"}
        return self.call("operator", "POST", "/egress-rules", json=body)["id"]

    def approved_grant(self) -> str:
        grant_id = self.pending_grant()
        self.call("owner", "POST", f"/grants/{grant_id}/approve", json={"reason": "依据充分"})
        return grant_id

    def pending_consent(self) -> str:
        """A new consent the owner asked the citizen for, on the party's source."""
        body = {"subject": self.citizen_id, "source": self.shared["party_source"], "fields": ["name"],
                "purpose": PURPOSE}
        return self.call("owner", "POST", "/consents", json=body)["id"]

    def approved_consent(self) -> str:
        consent_id = self.pending_consent()
        self.call("citizen", "POST", f"/me/consents/{consent_id}/approve")
        return consent_id


def build_world(hub: Hub, departments: dict[str, dict]) -> World:
    """Tokens for every principal, then the shared resources, each made through the API by its owner."""
    world = World(hub, {"owner": departments["market"], "party": departments["civil"],
                        "other dept": departments["land"]})
    world.citizen_id = resident_id()
    world.headers = {"anonymous": {}, "operator": hub.operator_headers(),
                     "citizen": citizen_headers(hub, world.citizen_id),
                     "other citizen": citizen_headers(hub, resident_id())}
    for principal, department in world.departments.items():
        world.headers[principal] = bearer(hub, department)
    _shared_resources(world)
    return world


def _shared_resources(world: World) -> None:
    source_id = world.source()
    world.shared["source_id"] = source_id
    csv = f"resident_id,name,months_paid\n{world.citizen_id},林晓燕,36\n".encode()
    world.call("owner", "POST", f"/sources/{source_id}/import", content=csv, headers={"content-type": "text/csv"})
    world.shared["granted_source"] = world.source()
    world.shared["party_source"] = world.call("party", "POST", "/sources",
                                              json=bulk_source(f"authz.party{next(_ids)}"))["id"]
    issued = world.call("owner", "POST", "/licenses", json=business_license_request())
    world.shared["license_id"] = issued["id"]
    world.shared["qr"] = issued["qr"]
    list_no, _ = decode_qr(issued["qr"]).claims.status_ref
    world.shared["list_id"] = list_id(world.departments["owner"]["code"], list_no, "revocation")
    world.shared["job_id"] = world.call("owner", "POST", "/licenses/batch", content=batch_file(),
                                        headers={"content-type": "application/x-ndjson"})["id"]
    world.shared["grant_id"] = world.pending_grant()
    world.shared["consent_id"] = world.pending_consent()
    # The owner's query about the citizen: an audit entry the citizen, the acting department and the operator see.
    answer = world.call("owner", "POST", f"/exchange/{source_id}/query",
                        json={"subject": world.citizen_id, "fields": ["months_paid"], "purpose": PURPOSE})
    world.shared["entry_id"] = answer["audit"]["entry_id"]


def batch_file() -> bytes:
    """A one-row JSONL batch of business licenses."""
    return orjson.dumps(business_license_request() | {"key": secrets.token_hex(8)}) + b"\n"
