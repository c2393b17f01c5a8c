"""The catalogue (POST/GET /sources) and grants (POST /grants, approve, reject, revoke)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import CatalogueDep, RequesterDep, SourceOwnerDep
from hub.core.db import SessionDep
from hub.core.idempotency import IdempotencyKey
from hub.core.wiring import ServicesDep
from hub.catalogue import grants, imports, sources
from hub.catalogue.connections import redact
from hub.catalogue.models import (
    GrantCreate,
    GrantDecision,
    GrantOut,
    GrantRevocation,
    ImportOut,
    SourceCreate,
    SourceOut,
)

router = APIRouter(tags=["catalogue"])


@router.post("/sources", response_model=SourceOut, status_code=201,
             summary="登记数据资源 Register a data source (health-checked at once once its target is approved)",
             responses={422: {"description": "validation_error (a bad connector config or SQL template names what) "
                                             "or target_refused (no egress rule can open the target)"}})
async def register(body: SourceCreate, wiring: ServicesDep, response: Response, session: SessionDep,
                   principal: SourceOwnerDep, idempotency_key: IdempotencyKey = None) -> SourceOut:
    source, created = await sources.register_checked(session, body, principal=principal, now=wiring.clock(),
                                                     connections=wiring.connections, idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    return await run_in_threadpool(sources.source_out, session, source, redact=redact, viewer=principal)


@router.put("/sources/{source_id}", response_model=SourceOut,
            summary="变更数据资源 Change one of my sources (id and subject key stay; *** keeps a stored secret)",
            responses={403: {"description": "not the owner"}, 404: {"description": "no such source"},
                       422: {"description": "validation_error or target_refused"}})
async def update(source_id: str, body: SourceCreate, wiring: ServicesDep, session: SessionDep,
                 principal: SourceOwnerDep) -> SourceOut:
    source = await sources.update_checked(session, source_id, body, principal=principal, now=wiring.clock(),
                                          connections=wiring.connections)
    return await run_in_threadpool(sources.source_out, session, source, redact=redact, viewer=principal)


@router.get("/sources", response_model=list[SourceOut], summary="资源目录 Browse the catalogue")
def browse(session: SessionDep, principal: CatalogueDep, category: str | None = Query(None, max_length=100),
           owner: str | None = Query(None, max_length=18, description="owning department's credit code")
           ) -> list[SourceOut]:
    return [sources.source_out(session, s, redact=redact, viewer=principal)
            for s in sources.list_sources(session, category=category, owner=owner)]


@router.get("/sources/{source_id}", response_model=SourceOut, summary="数据资源 One data source")
def read_source(source_id: str, session: SessionDep, principal: CatalogueDep) -> SourceOut:
    return sources.source_out(session, sources.get_source(session, source_id), redact=redact, viewer=principal)


_IMPORT_BODY = {"required": True, "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                              for media in imports.FORMATS}}


@router.post("/sources/{source_id}/import", response_model=ImportOut, openapi_extra={"requestBody": _IMPORT_BODY},
             summary="数据归集 Import a CSV, JSONL or XLSX file into one of my bulk sources (upsert by subject)",
             responses={413: {"description": "payload_too_large or import_too_large (the file expands past a cap; "
                                             "`limit` names it)"},
                        422: {"description": "import_format_invalid (nothing was written)"},
                        503: {"description": "import_interrupted (the database refused a batch part way)"}})
async def import_records(source_id: str, request: Request, wiring: ServicesDep, session: SessionDep,
                         principal: SourceOwnerDep) -> ImportOut:
    return await imports.receive_import(session, source_id, request.stream(), request.headers.get("content-type"),
                                        principal=principal, engine=wiring.engine, pepper=wiring.pepper,
                                        now=wiring.clock())


@router.post("/grants", response_model=GrantOut, status_code=201,
             summary="申请共享授权 Ask to read fields of a source (unconditional sources: approved at once)")
def request_grant(body: GrantCreate, wiring: ServicesDep, response: Response, session: SessionDep,
                  principal: RequesterDep, idempotency_key: IdempotencyKey = None) -> GrantOut:
    grant, created = grants.request_grant(session, body, principal=principal, pepper=wiring.pepper, now=wiring.clock(),
                                          idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    return grants.grant_out(session, grant, now=wiring.clock())


@router.get("/grants", response_model=list[GrantOut], summary="授权列表 Grants I asked for or decide on")
def list_grants(wiring: ServicesDep, session: SessionDep, principal: CatalogueDep,
                status: Literal["pending", "approved", "rejected", "revoked", "expired"] | None = None,
                ) -> list[GrantOut]:
    now = wiring.clock()
    return [grants.grant_out(session, g, now=now)
            for g in grants.list_grants(session, principal=principal, status=status, now=now)]


@router.get("/grants/{grant_id}", response_model=GrantOut, summary="一项授权 One grant")
def read_grant(grant_id: str, wiring: ServicesDep, session: SessionDep, principal: CatalogueDep) -> GrantOut:
    grant = grants.get_grant(session, grant_id, principal=principal)
    return grants.grant_out(session, grant, now=wiring.clock())


def _decision(action: str, summary: str) -> None:
    def decide(grant_id: str, wiring: ServicesDep, session: SessionDep, principal: SourceOwnerDep,
               body: GrantDecision | None = None) -> GrantOut:
        grant = grants.decide_grant(session, grant_id, "approved" if action == "approve" else "rejected",
                                    principal=principal, reason=body.reason if body else None, pepper=wiring.pepper,
                                    now=wiring.clock())
        return grants.grant_out(session, grant, now=wiring.clock())

    router.add_api_route(f"/grants/{{grant_id}}/{action}", decide, methods=["POST"], response_model=GrantOut,
                         summary=summary, name=f"grant_{action}")


_decision("approve", "批准授权 Approve a pending grant (the source's owner)")
_decision("reject", "驳回授权 Reject a pending grant (the source's owner)")


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut,
             summary="撤销授权 Revoke a grant (owner, requester or operator); it stops working at once")
def revoke(grant_id: str, body: GrantRevocation, wiring: ServicesDep, session: SessionDep,
           principal: CatalogueDep) -> GrantOut:
    grant = grants.revoke_grant(session, grant_id, principal=principal, reason=body.reason, pepper=wiring.pepper,
                                now=wiring.clock())
    return grants.grant_out(session, grant, now=wiring.clock())
