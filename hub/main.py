"""create_app(settings): the HTTP application on the hub's Services (built by hub.services.build_services).

Run with `uvicorn hub.main:create_app --factory`.
"""

from __future__ import annotations

import asyncio
import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from hub.audit.router import router as audit_router
from hub.auth.metadata import SCOPES, TOKEN_PATH
from hub.auth.metadata import router as auth_metadata_router
from hub.auth.router import demo_identity_router
from hub.auth.router import router as auth_router
from hub.batch.router import MAX_UPLOAD_BYTES
from hub.batch.router import router as batch_router
from hub.core.apidocs import install_docs
from hub.core.clock import Clock, system_clock
from hub.core.errors import install_error_handlers
from hub.core.guard import RequestGuard
from hub.core.http import serve_ahead
from hub.core.openapi import install_openapi
from hub.core.routes import constant_get
from hub.core.settings import Settings
from hub.core.wiring import ServicesDep
from hub.exchange.router import router as exchange_router
from hub.licenses.router import router as licenses_router
from hub.catalogue.router import router as catalogue_router
from hub.egress.router import router as egress_router
from hub.catalogue.health import health_loop
from hub.catalogue.imports import MAX_IMPORT_BYTES
from hub.departments.router import router as departments_router
from hub.services import Services, build_services
from hub.status.router import router as status_router
from hub.trust.router import router as trust_router
from hub.verification.router import router as verify_router

HEALTHY = {"status": "ok"}


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    """Build the application on the hub's Services (see hub.services): routes, middleware, OpenAPI."""
    wiring = build_services(settings or Settings(), clock=clock)
    wiring.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        wiring.batch.start(wiring.batch_context, worker=wiring.settings.batch_worker)
        wiring.audit.start()
        wiring.audit_writer.start()
        # Everything built so far lives as long as the process: keep it out of the collector's passes, which
        # otherwise walk it again and again (measured: exchange CPU 1.5 → 1.1 ms per query, p99 185 → 85 ms).
        gc.freeze()
        health = asyncio.create_task(health_loop(wiring.session_factory, wiring.connections, now=wiring.clock,
                                                 interval=wiring.settings.source_health_interval))
        yield
        health.cancel()
        await wiring.connections.aclose()
        wiring.batch.stop()
        wiring.audit_writer.stop()
        wiring.audit.stop()
        wiring.close()

    app = FastAPI(
        title="政务数据共享与电子证照交换枢纽 Exchange Hub", version="0.1.0", lifespan=lifespan,
        description="Departments exchange data and issue signed e-licenses; counters verify them.",
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,  # /docs: hub.core.apidocs, no CDN
    )
    app.state.services = wiring
    install_error_handlers(app)
    settings = wiring.settings
    uploads = {"/licenses/batch": MAX_UPLOAD_BYTES, "/sources/*/import": MAX_IMPORT_BYTES}
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes, uploads=uploads)
    routers = (auth_router, departments_router, catalogue_router, egress_router, exchange_router, trust_router,
               batch_router, licenses_router, status_router, verify_router, audit_router)
    for router in routers:
        app.include_router(router)
    app.include_router(auth_metadata_router)
    if settings.demo_identity:
        app.include_router(demo_identity_router)
    serve_ahead(app, routers)  # the hot routes, as their declarations (hub.auth.hot_routes) mark them
    _add_probes(app)
    install_docs(app)
    install_openapi(app, token_url=TOKEN_PATH, scopes=SCOPES)
    return app


def _add_probes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict:
        return HEALTHY

    app.router.routes.insert(0, constant_get("/health", HEALTHY))  # the probe answers ahead of the route search

    @app.get("/ready", tags=["ops"], summary="Readiness: database and object storage reachable",
             responses={503: {"description": "a check failed: the same body, status unavailable"}})
    async def ready(wiring: ServicesDep) -> JSONResponse:
        checks = await run_in_threadpool(_readiness, wiring)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)


def _readiness(wiring: Services) -> dict[str, str]:
    from sqlalchemy import text

    checks = {}
    try:
        with wiring.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - a probe reports, it does not raise
        checks["database"] = "unavailable"
    try:
        wiring.store.check()
        checks["storage"] = "ok"
    except Exception:  # noqa: BLE001
        checks["storage"] = "unavailable"
    return checks
