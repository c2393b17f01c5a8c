"""License types, issuance and retrieval."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from hub.auth.deps import IssuerDep, ReaderDep
from hub.core.db import SessionDep
from hub.licenses import service
from hub.licenses.models import LicenseIssue, LicenseOut, LicenseTypeOut

router = APIRouter(tags=["licenses"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


@router.get("/license-types", response_model=list[LicenseTypeOut], summary="证照类型 License types")
async def license_types(request: Request) -> list[LicenseTypeOut]:
    return [LicenseTypeOut.model_validate(t.model_dump()) for t in request.app.state.license_types.values()]


@router.post("/licenses", response_model=LicenseOut, status_code=201, summary="签发电子证照 Issue an e-license")
def issue(body: LicenseIssue, request: Request, response: Response, session: SessionDep, principal: IssuerDep,
          idempotency_key: IdempotencyKey = None) -> LicenseOut:
    state = request.app.state
    row, created = service.issue_license(
        session, body, principal=principal, types=state.license_types, keyring=state.keyring, store=state.store,
        idempotency_key=idempotency_key, now=state.clock(),
    )
    response.status_code = 201 if created else 200
    return service.license_out(session, row, types=state.license_types, base_url=state.settings.public_url)


@router.get("/licenses/{license_id}", response_model=LicenseOut, summary="查看电子证照 Read an e-license")
def read(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> LicenseOut:
    state = request.app.state
    row = service.get_license(session, license_id, principal=principal)
    return service.license_out(session, row, types=state.license_types, base_url=state.settings.public_url)


@router.get("/licenses/{license_id}/qr.png", response_class=Response, summary="QR code (PNG)")
def qr_png(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> Response:
    data = service.license_image(session, request.app.state.store, license_id, "qr.png", principal=principal)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/licenses/{license_id}/qr.svg", response_class=Response, summary="QR code (SVG)")
def qr_svg(license_id: str, request: Request, session: SessionDep, principal: ReaderDep) -> Response:
    data = service.license_image(session, request.app.state.store, license_id, "qr.svg", principal=principal)
    return Response(data, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"})
