"""The OpenAPI description holds: the served hub keeps what /openapi.json says, with every check on.

Schemathesis runs as its users run it (`st run URL`), against the hub behind uvicorn on a loopback port,
anonymously and with a department's token, through every phase (examples, coverage, fuzzing, stateful)
and every check: no server error, no response outside its schema, no status, content type or header the
description does not name, 405 with the right Allow, authentication never ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.conftest import DEMO_DEPARTMENTS, start_hub
from tests.support.servers import ServerThread

# The budget: a fixed number of generated requests per operation, no time-based repetition (no --max-time),
# deterministic data, so the run's size is fixed by the description, not by time. Measured on the 2-core
# machine: about 10 s of schemathesis CPU per run; 11 s (anonymous) and 19 s (department) of wall time at
# load 2.4, up to 41 and 49 s at load 8. The timeout only stops a run that went astray; speed is not a
# test's business.
EXAMPLES_PER_OPERATION = 5
HUNG_AFTER_SECONDS = 600

CONFIG = f"""
[generation]
max-examples = {EXAMPLES_PER_OPERATION}
deterministic = true
database = "none"
[checks.positive_data_acceptance]
# What a schema cannot say is refused with a problem, by design: a resident id with a wrong check character,
# an unknown license type code, a batch file with unknown columns, a tree size past the log's head.
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]
"""


class Served(NamedTuple):
    url: str
    token: str  # a department's access token
    client: dict  # that department's client credentials


@pytest.fixture(scope="module")
def served(request, tmp_path_factory) -> Served:
    """A hub on PostgreSQL + S3 (where a driver refuses what SQLite stores) behind uvicorn, and a department."""
    hub = start_hub("postgresql+s3", tmp_path_factory.mktemp("contract"), request)
    code, name = DEMO_DEPARTMENTS["civil"]
    created = hub.client.post("/departments", json={"code": code, "name": name, "region": "示例市"},
                              headers=hub.operator_headers())
    assert created.status_code == 201, created.text
    client = created.json()["client"]
    with ServerThread(hub.app, lifespan="off") as url:
        yield Served(url, hub.token(client["client_id"], client["client_secret"]), client)


def _schemathesis(url: str, tmp_path: Path, *, token: str | None = None) -> tuple[dict, str]:
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG + ("" if token else _anonymous_protected(paths)), encoding="utf-8")
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{url}/openapi.json",
         "--checks", "all", "--no-color", "--report", "json", "--report-json-path", str(report),
         *(["--header", f"Authorization: Bearer {token}"] if token else [])],
        capture_output=True, text=True, timeout=HUNG_AFTER_SECONDS, cwd=tmp_path)
    assert report.exists(), done.stdout + done.stderr
    return json.loads(report.read_text(encoding="utf-8")), done.stdout


def _anonymous_protected(paths: dict) -> str:
    """Without a token a protected operation answers 401 whatever else is sent: its fuzzed examples suffice
    there, and its coverage cases (every boundary of every parameter) run in the department's run."""
    ids = [operation["operationId"] for item in paths.values() for operation in item.values()
           if operation.get("security")]
    return f"""
[[operations]]
include-operation-id = {json.dumps(ids)}
phases.coverage.enabled = false
"""


def _assert_kept(report: dict, output: str) -> None:
    failures = output[output.find("FAILURES"):output.find("WARNINGS")] if "FAILURES" in output else output[-3000:]
    assert report["failures"] == [] and report["errors"] == [], failures
    assert report["stop_reason"] == "completed" and report["complete"], output[-2000:]
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"], operations
    assert report["exit_code"] == 0, output[-2000:]


def test_anonymous_calls_keep_the_contract(served, tmp_path):
    _assert_kept(*_schemathesis(served.url, tmp_path))


def test_department_calls_keep_the_contract(served, tmp_path):
    _assert_kept(*_schemathesis(served.url, tmp_path, token=served.token))


# --- The description itself ------------------------------------------------------------------------------

def _description(url: str) -> dict:
    return httpx.get(f"{url}/openapi.json").json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _resolve(spec: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_in_the_description_resolves(served):
    spec = _description(served.url)
    refs = [node["$ref"] for node in _walk(spec) if isinstance(node, dict) and "$ref" in node]
    assert len(refs) > 50 and not [ref for ref in refs if ref.startswith("#/$defs/")]
    for ref in refs:
        assert isinstance(_resolve(spec, ref), dict), ref
    issue = spec["paths"]["/licenses"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(spec, issue["properties"]["holder"]["$ref"])["properties"]["id_type"]


def _walk(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def test_exactly_the_operations_refusing_anonymous_calls_declare_security(served):
    """Called with no token and nothing else, an operation answers 401 if and only if it declares security."""
    url = served.url
    spec = _description(url)
    scopes = spec["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]["scopes"]
    protected = 0
    for method, path, operation in _operations(spec):
        status = httpx.request(method, url + re.sub(r"\{[^}]+\}", "x", path)).status_code
        security = operation.get("security", [])
        assert (status == 401) == bool(security), (method, path, status, security)
        if security:
            protected += 1
            assert {"bearer": []} in security, (method, path)
            assert all(set(requirement.get("OAuth2", [])) <= set(scopes) for requirement in security)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert protected > 25


def test_every_4xx_is_documented_as_a_problem(served):
    spec = _description(served.url)
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])
    for method, path, operation in _operations(spec):
        codes = [code for code in operation["responses"] if code.startswith("4")]
        assert "422" in codes, (method, path)
        for code in codes:
            content = operation["responses"][code]["content"]
            assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}, \
                (method, path, code)
        if "401" in codes:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_authorize_gets_a_token_as_the_security_scheme_describes(served):
    """What /docs' Authorize button does: a client-credentials request to the described token URL."""
    url = served.url
    spec = _description(url)
    flow = spec["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]
    metadata = httpx.get(f"{url}/.well-known/oauth-authorization-server").json()
    assert sorted(flow["scopes"]) == metadata["scopes_supported"]
    assert metadata["token_endpoint"].endswith(flow["tokenUrl"])
    token_form = spec["paths"][flow["tokenUrl"]]["post"]["requestBody"]["content"]
    assert token_form["application/x-www-form-urlencoded"]["schema"]["required"] == ["grant_type"]
    granted = httpx.post(url + flow["tokenUrl"], data={"grant_type": "client_credentials", "scope": "sources:read"},
                         auth=(served.client["client_id"], served.client["client_secret"]))
    assert granted.status_code == 200 and granted.json()["scope"] == "sources:read"
    authorised = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    read_scope = spec["paths"]["/grants"]["get"]["security"][0]["OAuth2"]
    assert read_scope == ["sources:read"] and httpx.get(f"{url}/grants", headers=authorised).status_code == 200
    refused = httpx.post(url + flow["tokenUrl"], data={"grant_type": "client_credentials"}, auth=("nobody", "wrong"))
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"


def test_files_are_described_with_their_media_types(served):
    paths = _description(served.url)["paths"]
    expected = {
        "/licenses/{license_id}/pdf": "application/pdf", "/licenses/{license_id}/qr.png": "image/png",
        "/licenses/{license_id}/qr.svg": "image/svg+xml", "/licenses/{license_id}/vc": "application/vc+jwt",
        "/status-lists/{list_id}": "application/vc+jwt", "/trust-list": "application/jose",
        "/trust-anchor.pem": "application/x-pem-file",
    }
    for path, media_type in expected.items():
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == [media_type], path
    anchor = paths["/trust-anchor"]["get"]["responses"]["200"]["content"]
    assert set(anchor) == {"application/json", "application/x-pem-file"}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/departments", "GET, POST"), ("GET", "/verify", "POST"), ("OPTIONS", "/licenses/batch", "POST"),
    ("PUT", "/licenses/x", "GET"), ("DELETE", "/trust-anchor", "GET"),
])
def test_a_method_the_path_does_not_serve_is_405_with_allow(served, method, path, allowed):
    response = httpx.request(method, served.url + path)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert response.headers["content-type"] == "application/problem+json"


def test_docs_are_served_by_the_hub_with_no_inline_script(served):
    url = served.url
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/' in attributes and not body.strip() for attributes, body in scripts)
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    kinds = {}
    for asset in assets:
        response = httpx.get(url + asset)
        assert response.status_code == 200, asset
        kinds[asset.rsplit(".", 1)[-1]] = response.headers["content-type"]
    assert kinds["js"].startswith("text/javascript") and kinds["css"].startswith("text/css")
    bundle = httpx.get(f"{url}/static/swagger-ui/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle and "validatorUrl: null" in httpx.get(f"{url}/static/apidocs.js").text
    assert "Apache License" in httpx.get(f"{url}/static/swagger-ui/LICENSE").text
