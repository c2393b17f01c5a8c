"""POST /exchange/{source_id}/query, and consents: departments ask, citizens decide."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hub.auth.deps import CitizenDep, RequesterDep
from hub.auth.hot_routes import Call, HotRoute
from hub.core.db import SessionDep
from hub.core.idempotency import IdempotencyKey
from hub.core.wiring import ServicesDep, services
from hub.exchange import consents
from hub.exchange.models import ConsentCreate, ConsentOut, ExchangeAnswer, ExchangeQuery

router = APIRouter(tags=["exchange"])


# The hot path: the body is validated with pydantic-core straight from its bytes, the answer serialised the same
# way, and no dependency runs; the models stay the OpenAPI description.
QUERY = HotRoute(
    "POST", "/exchange/{source_id}/query", body=ExchangeQuery, response=ExchangeAnswer, scope="exchange:query",
    role="department", summary="共享查询 Query a source: granted fields only, with a signed receipt",
    path_params={"source_id": "数据资源 id, e.g. household.residents"},
    problems={403: "grant_required, purpose_not_granted, consent_required, source_not_shared or egress_refused",
              409: "source_pending_review: the connector target awaits the operator",
              502: "source_unavailable", 504: "source_timeout"})


@QUERY.serve(router)
async def query(request: Request, call: Call[ExchangeQuery]) -> Response:
    wiring = services(request)
    answer = await wiring.exchange.answer(call.path_params["source_id"], call.body, principal=call.principal,
                                          now=wiring.clock())
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post("/consents", response_model=ConsentOut, status_code=201,
             summary="请求公民授权 Ask a citizen for consent (they decide at /me/consents)")
def request_consent(body: ConsentCreate, wiring: ServicesDep, response: Response, session: SessionDep,
                    principal: RequesterDep, idempotency_key: IdempotencyKey = None) -> ConsentOut:
    consent, created = consents.request_consent(session, body, principal=principal, pepper=wiring.pepper,
                                                now=wiring.clock(), idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    return consents.consent_out(session, consent, now=wiring.clock())


@router.get("/consents/{consent_id}", response_model=ConsentOut, summary="授权状态 A consent I asked for")
def read_consent(consent_id: str, wiring: ServicesDep, session: SessionDep, principal: RequesterDep) -> ConsentOut:
    consent = consents.requester_consent(session, consent_id, principal=principal)
    return consents.consent_out(session, consent, now=wiring.clock())


@router.get("/me/consents", response_model=list[ConsentOut], summary="我的授权 Consent requests addressed to me")
def my_consents(wiring: ServicesDep, session: SessionDep, principal: CitizenDep) -> list[ConsentOut]:
    return [consents.consent_out(session, c, now=wiring.clock())
            for c in consents.citizen_consents(session, principal=principal, pepper=wiring.pepper)]


def _citizen_decision(action: str, summary: str) -> None:
    def decide(consent_id: str, wiring: ServicesDep, session: SessionDep, principal: CitizenDep) -> ConsentOut:
        consent = consents.decide_consent(session, consent_id, action, principal=principal, pepper=wiring.pepper,
                                          now=wiring.clock())
        return consents.consent_out(session, consent, now=wiring.clock())

    router.add_api_route(f"/me/consents/{{consent_id}}/{action}", decide, methods=["POST"], response_model=ConsentOut,
                         summary=summary, name=f"consent_{action}")


_citizen_decision("approve", "同意 Approve a consent request")
_citizen_decision("reject", "拒绝 Reject a consent request")
_citizen_decision("revoke", "撤回 Revoke a consent I gave")
