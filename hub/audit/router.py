"""The audit log over HTTP: signed tree head, proofs (RFC 6962 §4 style), and the citizen's access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from hub.audit import service
from hub.audit.models import AccessLogPage, ConsistencyProofOut, InclusionProofOut, TreeHeadOut
from hub.auth.deps import CitizenDep, PrincipalDep
from hub.core.db import SessionDep
from hub.core.wiring import ServicesDep

router = APIRouter(tags=["audit"])
MAX_SIZE = 2**62  # beyond any log, inside a BIGINT
TreeSize = Annotated[int, Query(ge=1, le=MAX_SIZE)]


@router.get("/audit/tree-head", response_model=TreeHeadOut,
            summary="审计日志签名树头 Latest signed tree head of the audit log (root certificate: /trust-anchor)",
            responses={404: {"description": "no signed tree head yet"}})
def tree_head(wiring: ServicesDep, session: SessionDep) -> TreeHeadOut:
    return service.current_tree_head(session, log=wiring.audit)


@router.get("/audit/entries/{entry_id}/proof", response_model=InclusionProofOut,
            summary="审计条目包含证明 Inclusion proof of an entry (operator, acting department, or the citizen)",
            responses={400: {"description": "bad_tree_size"}, 409: {"description": "the entry is not sequenced yet"}})
def inclusion_proof(entry_id: Annotated[str, Path(max_length=64)], wiring: ServicesDep, session: SessionDep,
                    principal: PrincipalDep,
                    tree_size: Annotated[int | None, Query(ge=1, le=MAX_SIZE)] = None) -> InclusionProofOut:
    return service.entry_inclusion_proof(session, entry_id, tree_size=tree_size, principal=principal,
                                         log=wiring.audit)


@router.get("/audit/consistency", response_model=ConsistencyProofOut,
            summary="审计日志一致性证明 Consistency proof between two tree sizes",
            responses={400: {"description": "bad_tree_size"}, 404: {"description": "no signed tree head yet"}})
def consistency(first: TreeSize, second: TreeSize, wiring: ServicesDep, session: SessionDep) -> ConsistencyProofOut:
    return service.tree_consistency_proof(session, first=first, second=second, log=wiring.audit)


@router.get("/me/access-log", response_model=AccessLogPage,
            summary="我的数据被谁查询 Who queried my data (the logged-in citizen), newest first")
def access_log(wiring: ServicesDep, session: SessionDep, principal: CitizenDep,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               before: Annotated[int | None, Query(ge=0, le=MAX_SIZE, description="seq from next_before")] = None,
               ) -> AccessLogPage:
    return service.citizen_access_log(session, principal=principal, limit=limit, before=before,
                                      log=wiring.audit)
