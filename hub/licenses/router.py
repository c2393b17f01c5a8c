"""License types, issuance and retrieval."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import IssuerDep, ReaderDep
from hub.core.db import SessionDep, after_commit
from hub.licenses import lifecycle, service, sourcing
from hub.licenses.models import (
    LicenseEventOut,
    LicenseIssue,
    LicenseOut,
    LicenseTypeOut,
    LifecycleChange,
    ReissueRequest,
)

router = APIRouter(tags=["licenses"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


@router.get("/license-types", response_model=list[LicenseTypeOut], summary="证照类型 License types")
async def license_types(request: Request) -> list[LicenseTypeOut]:
    return [LicenseTypeOut.model_validate(t.model_dump()) for t in request.app.state.license_types.values()]


@router.post("/licenses", response_model=LicenseOut, status_code=201, summary="签发电子证照 Issue an e-license")
async def issue(body: LicenseIssue, request: Request, response: Response, session: SessionDep, principal: IssuerDep,
                idempotency_key: IdempotencyKey = None) -> LicenseOut:
    state = request.app.state
    if body.from_source:
        body = await sourcing.data_from_source(session, body, types=state.license_types, principal=principal,
                                               connections=state.connections, receipts=state.receipts,
                                               pepper=state.pepper, now=state.clock())
    row, created = await run_in_threadpool(
        service.issue_license, session, body, principal=principal, types=state.license_types, keyring=state.keyring,
        artifacts=state.artifacts, idempotency_key=idempotency_key, now=state.clock(),
    )
    response.status_code = 201 if created else 200
    return await run_in_threadpool(service.license_out, session, row, types=state.license_types,
                                   base_url=state.settings.public_url)


@router.get("/licenses/{license_id}", response_model=LicenseOut, summary="查看电子证照 Read an e-license")
def read(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> LicenseOut:
    state = request.app.state
    row = service.get_license(session, license_id, principal=principal)
    return service.license_out(session, row, types=state.license_types, base_url=state.settings.public_url)


def _artifact(name: str, media_type: str, summary: str, cache: str):
    def get(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> Response:
        data = service.license_artifact(session, request.app.state.artifacts, license_id, name, principal=principal)
        return Response(data, media_type=media_type, headers={"Cache-Control": cache})

    path = "pdf" if name == "license.pdf" else name
    router.add_api_route(f"/licenses/{{license_id}}/{path}", get, methods=["GET"], response_class=Response,
                         summary=summary, name=f"license_{path.replace('.', '_')}")


_artifact("qr.png", "image/png", "QR code (PNG)", "private, max-age=300")
_artifact("qr.svg", "image/svg+xml", "QR code (SVG)", "private, max-age=300")
_artifact("license.pdf", "application/pdf", "电子证照 PDF, signed (PAdES) by the issuing department", "private, no-store")


@router.get("/licenses/{license_id}/vc", response_class=Response,
            summary="W3C VC 2.0 export (vc+jwt), with credentialStatus pointing at the status lists")
def vc(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> Response:
    state = request.app.state
    token = service.license_vc(session, license_id, principal=principal, types=state.license_types,
                               keyring=state.keyring, base_url=state.settings.public_url)
    return Response(token, media_type="application/vc+jwt", headers={"Cache-Control": "private, no-store"})


def _change(action: str, summary: str):
    def change(license_id: str, body: LifecycleChange, request: Request, session: SessionDep,
               principal: IssuerDep) -> LicenseOut:
        state = request.app.state
        row = lifecycle.change_status(session, license_id, action, reason=body.reason, principal=principal,
                                      now=state.clock())
        after_commit(session, state.status.invalidate)
        return service.license_out(session, row, types=state.license_types, base_url=state.settings.public_url)

    router.add_api_route(f"/licenses/{{license_id}}/{action}", change, methods=["POST"], response_model=LicenseOut,
                         summary=summary, name=f"{action}_license")


_change("suspend", "暂停使用 Suspend a license")
_change("reinstate", "恢复使用 Reinstate a suspended license")
_change("revoke", "注销 Revoke a license (final)")


@router.post("/licenses/{license_id}/reissue", response_model=LicenseOut, status_code=201,
             summary="换发 Re-issue with changed data: version + 1, the old version is superseded")
def reissue(license_id: str, body: ReissueRequest, request: Request, session: SessionDep,
            principal: IssuerDep) -> LicenseOut:
    state = request.app.state
    row = lifecycle.reissue_license(session, license_id, body, principal=principal, types=state.license_types,
                                    keyring=state.keyring, artifacts=state.artifacts, now=state.clock())
    after_commit(session, state.status.invalidate)
    return service.license_out(session, row, types=state.license_types, base_url=state.settings.public_url)


@router.get("/licenses/{license_id}/history", response_model=list[LicenseEventOut],
            summary="证照变更记录 The license's history: who changed what, when and why")
def history(license_id: str, session: SessionDep, principal: ReaderDep) -> list[LicenseEventOut]:
    return [LicenseEventOut.model_validate(e, from_attributes=True)
            for e in lifecycle.license_history(session, license_id, principal=principal)]
