"""POST /exchange/{source_id}/query, and consents: departments ask, citizens decide."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hub.auth.deps import CitizenDep, RequesterDep, authorise
from hub.core.db import SessionDep
from hub.core.http import parse_body
from hub.core.idempotency import IdempotencyKey
from hub.core.openapi import requires_token
from hub.exchange import consents
from hub.exchange.models import ConsentCreate, ConsentOut, ExchangeAnswer, ExchangeQuery

router = APIRouter(tags=["exchange"])


# The hot path: the body is read raw and validated with pydantic-core directly, the answer serialised the same
# way, and no dependency runs (authorisation is a call in the route); the model stays the OpenAPI description.
_QUERY_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ExchangeQuery.model_json_schema()}}},
    "parameters": [{"name": "source_id", "in": "path", "required": True, "schema": {"type": "string"},
                    "description": "数据资源 id, e.g. household.residents"}],
    **requires_token("exchange:query")}


@router.post("/exchange/{source_id}/query", response_model=ExchangeAnswer, openapi_extra=_QUERY_BODY,
             summary="共享查询 Query a source: granted fields only, with a signed receipt",
             responses={403: {"description": "grant_required, purpose_not_granted, consent_required, "
                                              "source_not_shared or egress_refused"},
                        409: {"description": "source_pending_review: the connector target awaits the operator"},
                        502: {"description": "source_unavailable"}, 504: {"description": "source_timeout"}})
async def query(request: Request) -> Response:
    """Served ahead of FastAPI's router (hub.core.http.serve_ahead): the Request alone, a Response back."""
    principal = await authorise(request, "exchange:query", role="department")  # RequesterDep, without its passes
    state = request.app.state
    body = parse_body(ExchangeQuery, await request.body())
    answer = await state.exchange.answer(request.path_params["source_id"], body, principal=principal,
                                         now=state.clock())
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post("/consents", response_model=ConsentOut, status_code=201,
             summary="请求公民授权 Ask a citizen for consent (they decide at /me/consents)")
def request_consent(body: ConsentCreate, request: Request, response: Response, session: SessionDep,
                    principal: RequesterDep, idempotency_key: IdempotencyKey = None) -> ConsentOut:
    state = request.app.state
    consent, created = consents.request_consent(session, body, principal=principal, pepper=state.pepper,
                                                now=state.clock(), idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    return consents.consent_out(session, consent, now=state.clock())


@router.get("/consents/{consent_id}", response_model=ConsentOut, summary="授权状态 A consent I asked for")
def read_consent(consent_id: str, request: Request, session: SessionDep, principal: RequesterDep) -> ConsentOut:
    consent = consents.requester_consent(session, consent_id, principal=principal)
    return consents.consent_out(session, consent, now=request.app.state.clock())


@router.get("/me/consents", response_model=list[ConsentOut], summary="我的授权 Consent requests addressed to me")
def my_consents(request: Request, session: SessionDep, principal: CitizenDep) -> list[ConsentOut]:
    state = request.app.state
    return [consents.consent_out(session, c, now=state.clock())
            for c in consents.citizen_consents(session, principal=principal, pepper=state.pepper)]


def _citizen_decision(action: str, summary: str) -> None:
    def decide(consent_id: str, request: Request, session: SessionDep, principal: CitizenDep) -> ConsentOut:
        state = request.app.state
        consent = consents.decide_consent(session, consent_id, action, principal=principal, pepper=state.pepper,
                                          now=state.clock())
        return consents.consent_out(session, consent, now=state.clock())

    router.add_api_route(f"/me/consents/{{consent_id}}/{action}", decide, methods=["POST"], response_model=ConsentOut,
                         summary=summary, name=f"consent_{action}")


_citizen_decision("approve", "同意 Approve a consent request")
_citizen_decision("reject", "拒绝 Reject a consent request")
_citizen_decision("revoke", "撤回 Revoke a consent I gave")
