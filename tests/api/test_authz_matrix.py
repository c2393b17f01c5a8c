"""The authorisation matrix: every operation of the hub × every kind of caller, each outcome written down once.

The operations come from the app's route table, so a new route without a row (or a row for a route that is gone)
fails the run by name. Each cell sends a valid request as that caller, so an allowed cell shows its success status
rather than a 422, and a cell whose call changes state gets a resource of its own, so no cell depends on another.

Callers (see tests/support/authz_world.py): anonymous (no Authorization header); the citizen (the data subject of the
consents and of the audit entry); another citizen; another department (no part in the resource); the party and the
owner (the two departments a resource concerns: what each is, is said per row); the operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from starlette.routing import Mount

from hub.core.national_ids import make_credit_code
from tests.support.authz_world import CLIENTS, PRINCIPALS, PURPOSE, World, batch_file, build_world, bulk_source
from tests.support.licenses import business_license_request


@dataclass(frozen=True)
class Call:
    """What one cell sends, beyond the caller's bearer header and the shared resources named in the path."""

    path: dict[str, str] = field(default_factory=dict)
    json: object = None
    content: bytes | None = None
    data: dict | None = None
    params: dict | None = None
    headers: dict = field(default_factory=dict)
    auth: tuple[str, str] | None = None  # HTTP Basic client credentials, sent instead of the bearer header


Build = Callable[[World, str], Call]  # (world, principal) -> the request of that cell
REASON = {"reason": "核查需要"}
CSV = {"content-type": "text/csv"}
_seq = iter(range(60_000_000, 99_999_999))  # fresh department codes and source ids


def token(w: World, who: str) -> Call:
    """Clients present their own credentials; the citizen tries its bearer token, anonymous nothing."""
    form = {"grant_type": "client_credentials"}
    return Call(data=form, auth=w.client_auth(who)) if who in CLIENTS else Call(data=form)


def new_rule(w: World, who: str) -> Call:
    return Call(json={"department": w.departments["owner"]["code"], "target": f"https://dept{next(_seq)}.example:443"})


def fresh_rule(w: World, who: str) -> Call:
    return Call(path={"rule_id": w.egress_rule()})


def static_file(w: World, who: str) -> Call:
    return Call(path={"path": "apidocs.js"})


def new_department(w: World, who: str) -> Call:
    code = make_credit_code(next(_seq), registration_authority="1", category="1", region="990100")
    return Call(json={"code": code, "name": f"示例市测试局{code[-4:]}", "region": "示例市"})


def new_source(w: World, who: str) -> Call:
    return Call(json=bulk_source(f"authz.new{next(_seq)}"))


def changed_source(w: World, who: str) -> Call:
    source_id = w.source()
    return Call(path={"source_id": source_id}, json=bulk_source(source_id) | {"description": "按月更新"})


def import_rows(w: World, who: str) -> Call:
    return Call(content=f"resident_id,name,months_paid\n{w.citizen_id},林晓燕,36\n".encode(), headers=CSV)


def ask_grant(w: World, who: str) -> Call:
    return Call(json={"source": w.shared["granted_source"], "fields": ["months_paid"], "purpose": PURPOSE,
                      "legal_basis": "《社会保险法》第八十一条"})


def decide_grant(w: World, who: str) -> Call:
    return Call(path={"grant_id": w.pending_grant()}, json=REASON)


def revoke_grant(w: World, who: str) -> Call:
    return Call(path={"grant_id": w.approved_grant()}, json=REASON)


def query(w: World, who: str) -> Call:
    return Call(json={"subject": w.citizen_id, "fields": ["months_paid"], "purpose": PURPOSE})


def ask_consent(w: World, who: str) -> Call:
    return Call(json={"subject": w.citizen_id, "source": w.shared["party_source"], "fields": ["name"],
                      "purpose": PURPOSE})


def decide_consent(w: World, who: str) -> Call:
    return Call(path={"consent_id": w.pending_consent()})


def revoke_consent(w: World, who: str) -> Call:
    return Call(path={"consent_id": w.approved_consent()})


def batch(w: World, who: str) -> Call:
    return Call(content=batch_file(), headers={"content-type": "application/x-ndjson"})


def issue(w: World, who: str) -> Call:
    return Call(json=business_license_request())


def change_license(w: World, who: str) -> Call:
    return Call(path={"license_id": w.license()}, json=REASON)


def reinstate(w: World, who: str) -> Call:
    return Call(path={"license_id": w.suspended_license()}, json=REASON)


def reissue(w: World, who: str) -> Call:
    return Call(path={"license_id": w.license()}, json=REASON | {"data": {"registered_capital": "800万元"}})


def verify(w: World, who: str) -> Call:
    return Call(json={"qr": w.shared["qr"]})


def consistency(w: World, who: str) -> Call:
    return Call(params={"first": 1, "second": 1})


def citizen_login(w: World, who: str) -> Call:
    return Call(json={"resident_id": w.citizen_id})


def shared(w: World, who: str) -> Call:
    """Path parameters from the shared resources, no body: reads."""
    return Call()


NONE = "owner, party: departments; the call names no resource of another"


@dataclass(frozen=True)
class Row:
    expect: tuple[int, int, int, int, int, int, int]  # in the order of PRINCIPALS
    roles: str = NONE  # who "owner" and "party" are for this operation
    build: Build = shared  # the request of each cell (default: shared resources in the path, no body)
    shows: tuple[str, frozenset[str]] | None = None  # a list naming this shared resource to exactly these callers


CLIENT = "owner, party: the client itself"
SOURCE = "owner: the source's owner; party: a department with no grant on it"
GRANT = "owner: the source's owner; party: the grant's requester"
MAY_ISSUE = "owner: a department that may issue the type; party: one that may not"
ISSUER = "owner: the license's issuer; party: a department with no part"
SUBMITTER = "owner: the job's submitter; party: a department with no part"
REQUESTER = "owner: the consent's requester; party: the owner of its source (the citizen is its subject)"
ACTOR = "owner: the department that acted; party: one with no part (the citizen is the entry's subject)"
PUBLIC = (200, 200, 200, 200, 200, 200, 200)
PARTIES = frozenset({"party", "owner", "operator"})
SUBJECT = frozenset({"citizen"})

MATRIX: dict[str, Row] = {
    # Columns in the order of PRINCIPALS: anonymous, citizen, other citizen, other dept, party, owner, operator.
    # operation                                       anon citz cit2 dept prty ownr oper  roles, request
    "POST /oauth/token":                         Row((401, 401, 401, 200, 200, 200, 200), CLIENT, token),
    "POST /demo/identity/token":                 Row(PUBLIC, build=citizen_login),
    "GET /departments":                          Row((401, 403, 403, 403, 403, 403, 200)),
    "POST /departments":                         Row((401, 403, 403, 403, 403, 403, 201), build=new_department),
    "POST /sources":                             Row((401, 403, 403, 201, 201, 201, 403), build=new_source),
    "GET /sources":                              Row((401, 403, 403, 200, 200, 200, 200)),
    "GET /sources/{source_id}":                  Row((401, 403, 403, 200, 200, 200, 200), SOURCE),
    "PUT /sources/{source_id}":                  Row((401, 403, 403, 403, 403, 200, 403), SOURCE, changed_source),
    "POST /sources/{source_id}/import":          Row((401, 403, 403, 403, 403, 200, 403), SOURCE, import_rows),
    "POST /exchange/{source_id}/query":          Row((401, 403, 403, 403, 403, 200, 403), SOURCE, query),
    "POST /grants":                              Row((401, 403, 403, 201, 201, 409, 403), SOURCE, ask_grant),
    "GET /grants":                               Row((401, 403, 403, 200, 200, 200, 200), GRANT,
                                                     shows=("grant_id", PARTIES)),
    "GET /grants/{grant_id}":                    Row((401, 403, 403, 404, 200, 200, 200), GRANT),
    "POST /grants/{grant_id}/approve":           Row((401, 403, 403, 404, 403, 200, 403), GRANT, decide_grant),
    "POST /grants/{grant_id}/reject":            Row((401, 403, 403, 404, 403, 200, 403), GRANT, decide_grant),
    "POST /grants/{grant_id}/revoke":            Row((401, 403, 403, 404, 200, 200, 200), GRANT, revoke_grant),
    "POST /consents":                            Row((401, 403, 403, 201, 201, 201, 403), build=ask_consent),
    "GET /consents/{consent_id}":                Row((401, 403, 403, 404, 404, 200, 403), REQUESTER),
    "GET /me/consents":                          Row((401, 200, 200, 403, 403, 403, 403), REQUESTER,
                                                     shows=("consent_id", SUBJECT)),
    "POST /me/consents/{consent_id}/approve":    Row((401, 200, 404, 403, 403, 403, 403), REQUESTER, decide_consent),
    "POST /me/consents/{consent_id}/reject":     Row((401, 200, 404, 403, 403, 403, 403), REQUESTER, decide_consent),
    "POST /me/consents/{consent_id}/revoke":     Row((401, 200, 404, 403, 403, 403, 403), REQUESTER, revoke_consent),
    "GET /me/access-log":                        Row((401, 200, 200, 403, 403, 403, 403), ACTOR,
                                                     shows=("entry_id", SUBJECT)),
    "GET /license-types":                        Row(PUBLIC),
    "POST /licenses":                            Row((401, 403, 403, 403, 403, 201, 403), MAY_ISSUE, issue),
    "POST /licenses/batch":                      Row((401, 403, 403, 202, 202, 202, 403), MAY_ISSUE, batch),
    "GET /jobs/{job_id}":                        Row((401, 403, 403, 404, 404, 200, 200), SUBMITTER),
    "GET /licenses/{license_id}":                Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "GET /licenses/{license_id}/qr.png":         Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "GET /licenses/{license_id}/qr.svg":         Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "GET /licenses/{license_id}/pdf":            Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "GET /licenses/{license_id}/vc":             Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "GET /licenses/{license_id}/history":        Row((401, 403, 403, 404, 404, 200, 200), ISSUER),
    "POST /licenses/{license_id}/suspend":       Row((401, 403, 403, 404, 404, 200, 403), ISSUER, change_license),
    "POST /licenses/{license_id}/reinstate":     Row((401, 403, 403, 404, 404, 200, 403), ISSUER, reinstate),
    "POST /licenses/{license_id}/revoke":        Row((401, 403, 403, 404, 404, 200, 403), ISSUER, change_license),
    "POST /licenses/{license_id}/reissue":       Row((401, 403, 403, 404, 404, 201, 403), ISSUER, reissue),
    "POST /verify":                              Row(PUBLIC, build=verify),
    "GET /status-lists/{list_id}":               Row(PUBLIC),
    "GET /.well-known/jwks.json":                Row(PUBLIC),
    "GET /trust-list":                           Row(PUBLIC),
    "GET /trust-anchor":                         Row(PUBLIC),
    "GET /egress-rules":                         Row((401, 403, 403, 403, 403, 403, 200)),
    "POST /egress-rules":                        Row((401, 403, 403, 403, 403, 403, 201), build=new_rule),
    "DELETE /egress-rules/{rule_id}":            Row((401, 403, 403, 403, 403, 403, 204), build=fresh_rule),
    "GET /trust-anchor.pem":                     Row(PUBLIC),
    "GET /.well-known/oauth-authorization-server": Row(PUBLIC),
    "GET /audit/tree-head":                      Row(PUBLIC),
    "GET /audit/consistency":                    Row(PUBLIC, build=consistency),
    "GET /audit/entries/{entry_id}/proof":       Row((401, 200, 404, 404, 404, 200, 200), ACTOR),
    "GET /health":                               Row(PUBLIC),
    "GET /ready":                                Row(PUBLIC),
    "GET /":                                     Row((307, 307, 307, 307, 307, 307, 307)),
    "GET /docs":                                 Row(PUBLIC),
    "GET /static/{path}":                        Row(PUBLIC, build=static_file),
    "GET /openapi.json":                         Row(PUBLIC),
}
_METHODS = {"get", "put", "post", "delete", "patch", "options", "trace"}


def operations(app) -> set[str]:
    """Every method and path the app answers: its OpenAPI operations, and the routes kept out of the schema.

    FastAPI nests included routers, so the schema is the one public listing of their routes; the app's own
    routes (docs, the root redirect, mounts) are read from its route table. HEAD is answered wherever GET is.
    """
    found = {f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items()
             for method in item if method in _METHODS}
    for route in app.routes:
        if isinstance(route, Mount):
            found.add(f"GET {route.path}/{{path}}")
        elif getattr(route, "methods", None) and getattr(route, "path", None):
            found |= {f"{method} {route.path}" for method in route.methods - {"HEAD"}}
    return found


@pytest.fixture(scope="module")
def world(hub, departments) -> World:
    return build_world(hub, departments)


def test_every_operation_has_exactly_one_row(hub):
    answered = operations(hub.app)
    missing, gone = sorted(answered - MATRIX.keys()), sorted(MATRIX.keys() - answered)
    assert not missing, f"operations without a row in MATRIX: {missing}"
    assert not gone, f"rows in MATRIX for operations the hub does not have: {gone}"


@pytest.mark.parametrize("operation", list(MATRIX))
def test_each_caller_gets_the_outcome_written_down(world, operation):
    method, template = operation.split(" ", 1)
    row = MATRIX[operation]
    wrong = []
    for who, expected in zip(PRINCIPALS, row.expect, strict=True):
        call = row.build(world, who)
        path = re.sub(r"\{(\w+)\}", lambda m: call.path.get(m[1]) or world.shared[m[1]], template)
        headers = ({} if call.auth else world.headers[who]) | call.headers
        response = world.hub.client.request(method, path, headers=headers, json=call.json, content=call.content,
                                            data=call.data, params=call.params, auth=call.auth,
                                            follow_redirects=False)
        if response.status_code != expected:
            problem = response.headers.get("content-type") == "application/problem+json"
            wrong.append(f"{who}: expected {expected}, got {response.status_code} "
                         f"{response.json()['type'] if problem else ''}".rstrip())
        elif row.shows and response.is_success:
            key, seen_by = row.shows
            if (world.shared[key] in response.text) != (who in seen_by):
                wrong.append(f"{who}: {'misses' if who in seen_by else 'sees'} the shared {key} in the list")
    assert not wrong, f"{operation} ({row.roles}): " + "; ".join(wrong)
