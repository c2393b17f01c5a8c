"""License types, issuance and retrieval."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.auth.deps import IssuerDep, ReaderDep
from hub.auth.hot_routes import Call, Header, HotRoute
from hub.auth.tokens import Principal
from hub.core.db import SessionDep, after_commit, transaction
from hub.core.openapi import file_response
from hub.core.wiring import Services, ServicesDep, services
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
IDEMPOTENCY_KEY_LENGTH = 200


@router.get("/license-types", response_model=list[LicenseTypeOut], summary="证照类型 License types")
async def license_types(wiring: ServicesDep) -> list[LicenseTypeOut]:
    return [LicenseTypeOut.model_validate(t.model_dump()) for t in wiring.license_types.values()]


# The hot path of issuance: the request's one thread hop does the whole transaction, its commit and the PDF.
ISSUE = HotRoute(
    "POST", "/licenses", body=LicenseIssue, response=LicenseOut, status_code=201, scope="licenses:issue",
    role="department", summary="签发电子证照 Issue an e-license",
    headers=(Header("Idempotency-Key", IDEMPOTENCY_KEY_LENGTH,
                    "A retry with the same key and body returns the license first issued (200)"),),
    problems={422: "validation_error, invalid_license_data, issued_from_source_only (the type is issued only from "
                   "its source) or source_refuses_issuance",
              502: "source_unavailable (from_source)", 504: "source_timeout (from_source)"})


@ISSUE.serve(router)
async def issue(request: Request, call: Call[LicenseIssue]) -> Response:
    wiring, body = services(request), call.body
    sourced = body.from_source
    with wiring.session_factory() as session:
        if sourced:  # the exchange's audit entry joins the issuance's transaction
            body = await sourcing.data_from_source(session, body, types=wiring.license_types,
                                                   principal=call.principal, exchange=wiring.exchange,
                                                   now=wiring.clock())
        out, created = await run_in_threadpool(_issue, session, body, wiring, call.principal,
                                               call.headers["Idempotency-Key"], sourced)
    return Response(out.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


def _issue(session: Session, body: LicenseIssue, wiring: Services, principal: Principal,
           idempotency_key: str | None, sourced: bool) -> tuple[LicenseOut, bool]:
    with transaction(session):
        row, created = service.issue_license(
            session, body, principal=principal, types=wiring.license_types, keyring=wiring.keyring,
            artifacts=wiring.artifacts, idempotency_key=idempotency_key, now=wiring.clock(), sourced=sourced)
        out = service.license_out(session, row, types=wiring.license_types, base_url=wiring.settings.public_url)
    return out, created


@router.get("/licenses/{license_id}", response_model=LicenseOut, summary="查看电子证照 Read an e-license")
def read(license_id: str, wiring: ServicesDep, session: SessionDep, principal: ReaderDep) -> LicenseOut:
    row = service.get_license(session, license_id, principal=principal)
    return service.license_out(session, row, types=wiring.license_types, base_url=wiring.settings.public_url)


def _artifact(name: str, media_type: str, summary: str, cache: str):
    def get(license_id: str, wiring: ServicesDep, session: SessionDep, principal: ReaderDep) -> Response:
        data = service.license_artifact(session, wiring.artifacts, license_id, name, principal=principal)
        return Response(data, media_type=media_type, headers={"Cache-Control": cache})

    path = "pdf" if name == "license.pdf" else name
    router.add_api_route(f"/licenses/{{license_id}}/{path}", get, methods=["GET"], response_class=Response,
                         summary=summary, name=f"license_{path.replace('.', '_')}",
                         responses=file_response(media_type, summary))


_artifact("qr.png", "image/png", "QR code (PNG)", "private, max-age=300")
_artifact("qr.svg", "image/svg+xml", "QR code (SVG)", "private, max-age=300")
_artifact("license.pdf", "application/pdf", "电子证照 PDF, signed (PAdES) by the issuing department", "private, no-store")


@router.get("/licenses/{license_id}/vc", response_class=Response,
            summary="W3C VC 2.0 export (vc+jwt), with credentialStatus pointing at the status lists",
            responses=file_response("application/vc+jwt", "the credential as a compact JWS"))
def vc(license_id: str, wiring: ServicesDep, session: SessionDep, principal: ReaderDep) -> Response:
    token = service.license_vc(session, license_id, principal=principal, types=wiring.license_types,
                               keyring=wiring.keyring, base_url=wiring.settings.public_url)
    return Response(token, media_type="application/vc+jwt", headers={"Cache-Control": "private, no-store"})


def _change(action: str, summary: str):
    def change(license_id: str, body: LifecycleChange, wiring: ServicesDep, session: SessionDep,
               principal: IssuerDep) -> LicenseOut:
        row = lifecycle.change_status(session, license_id, action, reason=body.reason, principal=principal,
                                      now=wiring.clock())
        after_commit(session, wiring.status.invalidate)
        return service.license_out(session, row, types=wiring.license_types, base_url=wiring.settings.public_url)

    router.add_api_route(f"/licenses/{{license_id}}/{action}", change, methods=["POST"], response_model=LicenseOut,
                         summary=summary, name=f"{action}_license")


_change("suspend", "暂停使用 Suspend a license")
_change("reinstate", "恢复使用 Reinstate a suspended license")
_change("revoke", "注销 Revoke a license (final)")


@router.post("/licenses/{license_id}/reissue", response_model=LicenseOut, status_code=201,
             summary="换发 Re-issue with changed data: version + 1, the old version is superseded; a type issued "
                     "from its source reads the source again and takes no data")
async def reissue(license_id: str, body: ReissueRequest, wiring: ServicesDep, session: SessionDep,
                  principal: IssuerDep) -> LicenseOut:
    row = await lifecycle.reissue(session, license_id, body, principal=principal, types=wiring.license_types,
                                  keyring=wiring.keyring, artifacts=wiring.artifacts, exchange=wiring.exchange,
                                  now=wiring.clock())
    after_commit(session, wiring.status.invalidate)
    return await run_in_threadpool(service.license_out, session, row, types=wiring.license_types,
                                   base_url=wiring.settings.public_url)


@router.get("/licenses/{license_id}/history", response_model=list[LicenseEventOut],
            summary="证照变更记录 The license's history: who changed what, when and why")
def history(license_id: str, session: SessionDep, principal: ReaderDep) -> list[LicenseEventOut]:
    return [LicenseEventOut.model_validate(e, from_attributes=True)
            for e in lifecycle.license_history(session, license_id, principal=principal)]
