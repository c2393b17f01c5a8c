"""Create departments and the OAuth2 clients that act for them; read them (the calling one cached per process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.caches import Caches, session_caches
from hub.auth.clients import DEPARTMENT_SCOPES, new_client
from hub.auth.tokens import Principal
from hub.core.errors import Conflict, Forbidden, NotFound
from hub.departments.models import DepartmentCreate, DepartmentCreated, DepartmentOut
from hub.departments.tables import Department
from hub.trust.service import create_issuer_key


def create_department(session: Session, request: DepartmentCreate, *, passphrase: bytes,
                      now: datetime) -> DepartmentCreated:
    """Register a department with its issuer key and an OAuth2 client; the secret is returned once."""
    if session.scalar(select(Department.id).where(Department.code == request.code)):
        raise Conflict(f"A department with code {request.code} already exists.")
    department = Department(code=request.code, name=request.name, region=request.region, created_at=now)
    session.add(department)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(f"A department with code {request.code} already exists.") from exc
    key = create_issuer_key(session, department_id=department.id, code=department.code, name=department.name,
                            alg=request.alg, passphrase=passphrase, now=now)
    client = new_client(session, role="department", department_id=department.id, scopes=DEPARTMENT_SCOPES,
                         now=now, jwks=request.jwks)
    session.flush()
    return DepartmentCreated(**_out(department).model_dump(exclude={"issuer_kid"}), issuer_kid=key.kid,
                             client=client)


def _out(department: Department) -> DepartmentOut:
    return DepartmentOut(id=department.id, code=department.code, name=department.name, region=department.region,
                         created_at=department.created_at)


def list_departments(session: Session) -> list[DepartmentOut]:
    """Return every department, oldest first."""
    rows = session.scalars(select(Department).order_by(Department.created_at, Department.code))
    return [_out(row) for row in rows]


def get_department(session: Session, department_id: str) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound("No such department.")
    return department


def find_department_by_code(session: Session, code: str) -> Department | None:
    return session.scalar(select(Department).where(Department.code == code))


def require_department(session: Session, principal: Principal) -> Department:
    """Return the calling department (the operator and citizens are not departments)."""
    department = session.get(Department, principal.department_id) if principal.department_id else None
    if department is None:
        raise Forbidden("This call is made by a department.")
    return department


@dataclass(frozen=True)
class DepartmentView:
    id: str
    code: str
    name: str


DEPARTMENTS = "departments"  # the factory's cache of DepartmentViews: departments are never edited


def cached_department(caches: Caches, principal: Principal) -> DepartmentView | None:
    """The calling department if this process has read it already (no database)."""
    return caches.named(DEPARTMENTS).get(principal.department_id or "")


def department_by_id(session: Session, department_id: str) -> DepartmentView:
    """A department's id, code and name by id, read once per process; NotFound if there is none."""
    view = session_caches(session).named(DEPARTMENTS).get(department_id)
    if view is None:
        department = session.get(Department, department_id)
        if department is None:
            raise NotFound("No such department.")
        view = _remember(session, department)
    return view


def department_view(session: Session, principal: Principal) -> DepartmentView:
    """The calling department's id, code and name, read once per process (hot paths call this per request)."""
    view = session_caches(session).named(DEPARTMENTS).get(principal.department_id or "")
    if view is None:
        view = _remember(session, require_department(session, principal))
    return view


def _remember(session: Session, department: Department) -> DepartmentView:
    view = DepartmentView(department.id, department.code, department.name)
    return session_caches(session).named(DEPARTMENTS).remember(department.id, view)
