"""Demo data: five departments of a fictional city (示例市), about twenty licenses, their credentials."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session

from hub.auth.tokens import Principal
from hub.bootstrap import initialise
from hub.core.national_ids import make_credit_code, make_resident_id
from hub.core.settings import Settings, write_secret_json
from hub.demo.sources import load_demo_sources
from hub.licenses.models import Holder, LicenseIssue
from hub.licenses.printing.qrimage import make_qr
from hub.licenses.service import issue_license
from hub.licenses.sourcing import data_from_source
from hub.main import create_app
from hub.auth import clients
from hub.departments import service as departments
from hub.departments.models import DepartmentCreate

REGION = "示例市"
DEPARTMENTS = [  # codes match the issuers in schemas/license-types/*.yaml
    ("11990100MB0000019L", "示例市市场监督管理局", "market"),
    ("11990100MB0000027F", "示例市民政局", "civil_affairs"),
    ("11990100MB0000035A", "示例市自然资源局", "natural_resources"),
    ("11990100MB00000510", "示例市人力资源和社会保障局", "human_resources"),
    ("11990100MB00000435", "示例市公安局", "public_security"),
]
BUSINESS, MARRIAGE, ESTATE, NO_CRIME, NO_ARREARS = (
    "11100000000013338W001", "11100000MB90000150001", "11100000MB9000023T001", "11100000MB9000031M001",
    "11100000MB900004XD001")
PEOPLE = ["林建华", "陈美玲", "王志强", "张晓燕", "刘德明", "黄丽娟", "赵国庆", "周婷婷", "吴俊杰", "郑雅琴",
          "孙海涛", "朱慧敏"]
COMPANIES = ["福州闽江数字科技有限公司", "示例市榕城建筑工程有限公司", "示例市海峡物流有限公司",
             "示例市三坊七巷餐饮管理有限公司", "示例市鼓山茶业有限公司"]


@dataclass(frozen=True)
class DemoSummary:
    credentials_path: Path
    licenses: int
    sample_qr: str


def person(index: int) -> Holder:
    """A synthetic citizen with a valid resident id."""
    birth = date(1970 + index * 2, 1 + index % 12, 1 + index % 27)
    number = make_resident_id("350102", birth, 10 + index, "M" if index % 2 == 0 else "F")
    return Holder(id_type="resident_id", id=number, name=PEOPLE[index % len(PEOPLE)])


def company(index: int) -> Holder:
    """A synthetic enterprise with a valid credit code."""
    return Holder(id_type="credit_code", id=make_credit_code(12_340_000 + index, region="990100"),
                  name=COMPANIES[index % len(COMPANIES)])


def demo_licenses() -> list[tuple[str, LicenseIssue]]:
    """Twenty licenses across the five types, as (department code, request).

    The no-wage-arrears proofs are issued from the social-security source (`from_source`), as the type requires.
    """
    items: list[tuple[str, LicenseIssue]] = []
    for i in range(5):
        items.append((DEPARTMENTS[0][0], LicenseIssue(type=BUSINESS, holder=company(i), data={
            "legal_representative": PEOPLE[i], "enterprise_type": "有限责任公司", "registered_capital": f"{(i + 1) * 100}万元",
            "established": f"20{10 + i}-0{1 + i}-15", "address": f"{REGION}鼓楼区五四路{100 + i}号",
            "business_scope": "软件开发；信息技术咨询服务"})))
    for i in range(4):
        a, b = person(2 * i), person(2 * i + 1)
        items.append((DEPARTMENTS[1][0], LicenseIssue(type=MARRIAGE, holder=a, data={
            "spouse_name": b.name, "spouse_id": b.id, "registered_on": f"2021-0{i + 1}-20",
            "registry_office": f"{REGION}鼓楼区民政局婚姻登记处"})))
    for i in range(4):
        items.append((DEPARTMENTS[2][0], LicenseIssue(type=ESTATE, holder=person(i + 3), data={
            "certificate_no": f"闽(2024)示例市不动产权第{1000 + i:07d}号", "location": f"{REGION}台江区江滨路{20 + i}号",
            "area": 89.5 + i, "usage": "住宅", "right_type": "国有建设用地使用权/房屋所有权"})))
    for i in range(4):
        items.append((DEPARTMENTS[4][0], LicenseIssue(type=NO_CRIME, holder=person(i + 6), data={
            "purpose": "入职审查", "checked_on": "2026-11-20"})))
    for i in range(3):
        items.append((DEPARTMENTS[3][0], LicenseIssue(type=NO_ARREARS, holder=company(i), from_source=True)))
    return items


def load_demo(settings: Settings, *, console: Console) -> DemoSummary:
    """Load the demo (idempotent) and write var/demo/credentials.json."""
    operator = initialise(settings)
    app = create_app(settings)
    state = app.state.services
    path = settings.var_dir / "demo" / "credentials.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    with state.session_factory.begin() as session:
        credentials = {"operator": operator or _reuse_or_reset(session, known.get("operator"), role="operator"),
                       "departments": {}}
        for code, name, key in DEPARTMENTS:
            credentials["departments"][key] = _department(session, code, name, known, key, state)
    write_secret_json(path, credentials)
    # Sources first: the social-security database they read must exist before licenses are issued from it.
    sources = load_demo_sources(state, settings, console=console)
    console.print(f"Demo: {sources.sources} data sources in the catalogue.")
    by_code = {d["code"]: d for d in credentials["departments"].values()}
    issued, sample = asyncio.run(_issue_demo_licenses(state, by_code))
    console.print(f"Demo: {len(DEPARTMENTS)} departments, {len(demo_licenses())} licenses ({issued} new).")
    _print_qr(console, sample)
    return DemoSummary(credentials_path=path, licenses=len(demo_licenses()), sample_qr=sample)


async def _issue_demo_licenses(state, by_code: dict[str, dict]) -> tuple[int, str]:
    """Issue the demo licenses (idempotent); returns how many are new and the first one's QR text."""
    issued, sample = 0, ""
    try:
        for n, (code, request) in enumerate(demo_licenses()):
            dept = by_code[code]
            principal = Principal(client_id=dept["client_id"], role="department", department_id=dept["id"],
                                  scopes=frozenset({"licenses:issue", "exchange:query"}))
            sourced = request.from_source
            with state.session_factory.begin() as session:
                if sourced:  # through the exchange: granted, audited, refused for an employer in arrears
                    request = await data_from_source(session, request, types=state.license_types,
                                                     principal=principal, exchange=state.exchange, now=state.clock())
                row, created = issue_license(session, request, principal=principal, types=state.license_types,
                                             keyring=state.keyring, artifacts=state.artifacts,
                                             idempotency_key=f"demo-{n}", now=state.clock(), sourced=sourced)
            issued += created
            sample = sample or row.qr_text
    finally:
        await state.connections.aclose()
    return issued, sample


def _department(session: Session, code: str, name: str, known: dict, key: str, state) -> dict:
    department = departments.find_department_by_code(session, code)
    if department is None:
        created = departments.create_department(session, DepartmentCreate(code=code, name=name, region=REGION),
                                             passphrase=state.passphrase, now=state.clock())
        return {"id": created.id, "code": code, "name": name, **created.client.model_dump()}
    client = _reuse_or_reset(session, known.get("departments", {}).get(key), role="department",
                             department_id=department.id)
    return {"id": department.id, "code": code, "name": name, **client}


def _reuse_or_reset(session: Session, previous: dict | None, *, role: str, department_id: str | None = None) -> dict:
    """Keep credentials that still work; otherwise give the first client of that role a new secret."""
    if previous and clients.client_secret_valid(session, previous["client_id"], previous["client_secret"]):
        return {k: previous[k] for k in ("client_id", "client_secret", "scopes")}
    client = clients.clients_of(session, role=role, department_id=department_id)[0]
    return clients.reset_client_secret(session, client.client_id).model_dump()


def _print_qr(console: Console, text: str) -> None:
    code = make_qr(text)
    console.print(f"Sample e-license QR (营业执照, version {code.version}):")
    code.print_ascii(invert=True)
    console.print(text, soft_wrap=True, highlight=False, markup=False)
