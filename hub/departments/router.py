"""Department registration (operator only)."""

from __future__ import annotations

from fastapi import APIRouter

from hub.auth.deps import OperatorDep
from hub.core.db import SessionDep, after_commit
from hub.core.wiring import ServicesDep
from hub.departments import service
from hub.departments.models import DepartmentCreate, DepartmentCreated, DepartmentOut

router = APIRouter(tags=["departments"])


@router.post("/departments", response_model=DepartmentCreated, status_code=201,
             summary="登记部门 Register a department (the client secret is shown once)")
def create(body: DepartmentCreate, wiring: ServicesDep, session: SessionDep,
           principal: OperatorDep) -> DepartmentCreated:
    created = service.create_department(session, body, passphrase=wiring.passphrase, now=wiring.clock())
    after_commit(session, wiring.keys_changed)  # a new issuer key
    return created


@router.get("/departments", response_model=list[DepartmentOut], summary="部门列表 List departments")
def list_all(session: SessionDep, principal: OperatorDep) -> list[DepartmentOut]:
    return service.list_departments(session)
