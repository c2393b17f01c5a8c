"""Egress rules (operator only): which connector targets each department's sources may reach."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response

from hub.auth.deps import OperatorDep
from hub.core.db import SessionDep, after_commit
from hub.core.wiring import ServicesDep
from hub.egress import rules
from hub.egress.models import CREDIT_CODE, RULE_ID, EgressRuleCreate, EgressRuleOut

router = APIRouter(tags=["egress"])


@router.post("/egress-rules", response_model=EgressRuleOut, status_code=201,
             summary="批准连接目标 Approve a connector target for a department (operator)",
             responses={409: {"description": "already approved"}, 422: {"description": "not a target, or refused"}})
def allow(body: EgressRuleCreate, wiring: ServicesDep, session: SessionDep, principal: OperatorDep) -> EgressRuleOut:
    rule = rules.allow_target(session, body.department, body.target, guard=wiring.connections.guard,
                               actor="operator", pepper=wiring.pepper, now=wiring.clock())
    after_commit(session, wiring.exchange.forget)
    return rules.rule_out(session, rule)


@router.get("/egress-rules", response_model=list[EgressRuleOut], summary="连接目标 Approved connector targets (operator)")
def list_all(session: SessionDep, principal: OperatorDep,
             department: str | None = Query(None, pattern=CREDIT_CODE, description="one department's credit code")
             ) -> list[EgressRuleOut]:
    return [rules.rule_out(session, rule) for rule in rules.list_rules(session, department_code=department)]


@router.delete("/egress-rules/{rule_id}", status_code=204,
               summary="撤销连接目标 Revoke an approved target: its sources are pending review again at once (operator)",
               responses={404: {"description": "no such rule"}})
def revoke(wiring: ServicesDep, session: SessionDep, principal: OperatorDep,
           rule_id: str = Path(pattern=RULE_ID)) -> Response:
    rules.revoke_rule(session, rule_id, actor="operator", pepper=wiring.pepper, now=wiring.clock())
    after_commit(session, wiring.exchange.forget)
    return Response(status_code=204)
