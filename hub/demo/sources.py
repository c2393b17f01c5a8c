"""Demo data sources: the household registry (REST), social security (SQL) and marriage records (bulk import).

`hub demo` registers every definition in schemas/sources, approves exactly their own targets (the household
registry's address, the social-security file in HUB_SQLITE_SOURCES_DIR) as egress rules of their owners, builds
the social-security database, writes and imports a CSV of 100,000 marriage records, and grants a few departments
what the demo services need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.imports import import_file
from connectors.fields import FieldSpec
from connectors.store import shared_records
from hub.core.national_ids import is_valid_resident_id
from hub.catalogue import grants as grant_service
from hub.catalogue.egress import egress_state
from hub.egress.rules import allow_target, department_rules
from hub.catalogue.models import GrantCreate, Health
from hub.catalogue.sources import load_definitions, upsert_definition
from hub.departments.service import find_department_by_code
from hub.catalogue.tables import Grant, Source
from hub.auth.tokens import Principal

MARRIAGE_ROWS = 100_000
# (requesting department code, source, fields, purpose, legal basis): what the demo's counters rely on. A query is
# answered only when it states one of these purposes exactly (the owner reads its own sources for any purpose).
DEMO_GRANTS = [
    ("11990100MB0000027F", "household.residents", ["name", "gender", "birth_date", "address"],
     "婚姻登记核验当事人户籍信息", "《婚姻登记条例》第五条"),
    ("11990100MB0000019L", "household.residents", ["name", "birth_date"],
     "企业设立登记：核验法定代表人户籍信息", "《中华人民共和国市场主体登记管理条例》"),
    ("11990100MB0000035A", "civil.marriage", ["name", "marital_status", "registered_on"],
     "不动产登记核验婚姻状况", "《不动产登记暂行条例实施细则》第十一条"),
    ("11990100MB0000019L", "social_security.insured", ["name", "insured_status", "employer_name"],
     "企业开办核验参保信息", "《优化营商环境条例》第三十五条"),
]


@dataclass(frozen=True)
class SourcesSummary:
    sources: int
    imported: int
    failed: int


def load_demo_sources(state, settings, *, console: Console) -> SourcesSummary:
    """Register the demo sources, build their back ends and import the bulk file (idempotent)."""
    from demo_systems.marriage_file import write_marriage_csv
    from demo_systems.social_security import build_database

    demo_dir = settings.var_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    sqlite_dir = settings.resolved_sqlite_sources_dir()
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    social = sqlite_dir / "social_security.db"
    if not social.exists():
        build_database(social)
    definitions = load_definitions(Path(settings.sources_dir))
    now = state.clock()
    with state.session_factory.begin() as session:
        for definition in definitions:
            definition = _placed(definition, settings)
            department = find_department_by_code(session, definition.owner)
            if department is not None:
                upsert_definition(session, definition, department=department, now=now,
                                  health=Health(status="unknown", detail="not checked yet"))
                _approve_targets(session, definition, department.id, state=state, now=now)
        _demo_grants(session, pepper=state.pepper, now=now)
    imported = failed = 0
    bulk = [d for d in definitions if d.connector.type == "bulk"]
    for definition in bulk:
        done, bad = _import_once(state, definition, demo_dir / "marriage.csv", write_marriage_csv, console=console)
        imported, failed = imported + done, failed + bad
    return SourcesSummary(sources=len(definitions), imported=imported, failed=failed)


def _placed(definition, settings):
    """The definition with this installation's values in place of `{sqlite_sources_dir}` and `{demo_household_port}`."""
    values = {"{sqlite_sources_dir}": str(settings.resolved_sqlite_sources_dir()),
              "{demo_household_port}": str(settings.demo_household_port)}
    url = definition.connector.config.get("url")
    if definition.connector.type not in ("sql", "rest") or not isinstance(url, str):
        return definition
    for placeholder, value in values.items():
        url = url.replace(placeholder, value)
    config = definition.connector.config | {"url": url}
    return definition.model_copy(update={"connector": definition.connector.model_copy(update={"config": config})})


def _approve_targets(session: Session, definition, department_id: str, *, state, now: datetime) -> None:
    """Approve exactly the targets of one demo definition for its owner, as the operator would."""
    spec = definition.connector
    rules = department_rules(session, department_id)
    for target in egress_state(spec.type, spec.config, rules).targets:
        if str(target) not in rules:
            allow_target(session, definition.owner, str(target), guard=state.connections.guard, actor="hub demo",
                         pepper=state.pepper, now=now)
            rules |= {str(target)}


def _demo_grants(session: Session, *, pepper: bytes, now: datetime) -> None:
    for code, source_id, fields, purpose, basis in DEMO_GRANTS:
        requester = find_department_by_code(session, code)
        if requester is None or session.get(Source, source_id) is None:
            continue
        if session.scalar(select(Grant.id).where(Grant.requester_id == requester.id, Grant.source_id == source_id,
                                                 Grant.purpose == purpose)):
            continue
        principal = Principal(client_id="demo", role="department", department_id=requester.id, scopes=frozenset())
        grant, _ = grant_service.request_grant(session, GrantCreate(source=source_id, fields=fields, purpose=purpose,
                                                                 legal_basis=basis), principal=principal,
                                            pepper=pepper, now=now)
        if grant.status == "pending":
            source = session.get(Source, source_id)
            owner = Principal(client_id="demo", role="department", department_id=source.department_id,
                              scopes=frozenset())
            grant_service.decide_grant(session, grant.id, "approved", principal=owner, reason="演示授权",
                                       pepper=pepper, now=now)


def _import_once(state, definition, path: Path, write_csv, *, console: Console) -> tuple[int, int]:
    engine = state.engine
    with engine.connect() as conn:
        present = conn.scalar(select(func.count()).select_from(shared_records)
                              .where(shared_records.c.source_id == definition.id))
    if present:
        console.print(f"Bulk source {definition.id}: {present:,} records already imported.")
        return 0, 0
    if not path.exists():
        write_csv(path, rows=MARRIAGE_ROWS)
    fields = [FieldSpec(f.name, f.type) for f in definition.fields]
    config = definition.connector.config
    with _progress(console) as progress:
        task = progress.add_task(f"归集 {definition.name}", total=None)
        report = import_file(engine, path, source_id=definition.id, fmt=config.get("format", "csv"),
                             subject_field=config.get("subject_field", "resident_id"), fields=fields,
                             subject_check=lambda s: is_valid_resident_id(s),
                             progress=lambda done, total: progress.update(task, completed=done, total=total),
                             now=state.clock())
    console.print(f"Bulk source {definition.id}: {report.imported:,} records imported, {report.failed} bad rows.")
    return report.imported, report.failed


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)
