"""Department registration (operator only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from hub.auth.deps import OperatorDep
from hub.core.db import SessionDep, after_commit
from hub.registry import service
from hub.registry.models import DepartmentCreate, DepartmentCreated, DepartmentOut

router = APIRouter(tags=["departments"])


@router.post("/departments", response_model=DepartmentCreated, status_code=201,
             summary="登记部门 Register a department (the client secret is shown once)")
def create(body: DepartmentCreate, request: Request, session: SessionDep, principal: OperatorDep) -> DepartmentCreated:
    state = request.app.state
    created = service.create_department(session, body, passphrase=state.passphrase, now=state.clock())
    after_commit(session, state.trust.invalidate)
    return created


@router.get("/departments", response_model=list[DepartmentOut], summary="部门列表 List departments")
def list_all(session: SessionDep, principal: OperatorDep) -> list[DepartmentOut]:
    return service.list_departments(session)
