"""The public HTTP edge: authenticates, authorises, forwards to the services."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.asyncapi import build_asyncapi
from gateway.client_address import parse_networks
from gateway.deps import Upstreams
from gateway.headers import MetricsPortMiddleware, SecurityHeadersMiddleware
from gateway.ops import PAGE, figures, merged_metrics, require_ops, service_readiness
from gateway.opsfeed import OpsFeed
from gateway.settings import GatewaySettings
from kernel.heap import settle_heap
from kernel.http import BodyLimitMiddleware, LatencyMiddleware, install_error_handlers
from kernel.internal_auth import CallSigner
from kernel.logs import get_logger, setup_logging
from kernel.settings import KafkaSettings
from kernel.signing import EventVerifier
from kernel.telemetry import FASTAPI_TELEMETRY, TraceMiddleware, setup_tracing

log = get_logger(__name__)

ROUTE_MODULES = ("members", "privacy", "staff", "consent", "listings", "messaging")
"""Route modules under ``gateway.routes``, each exposing ``router``."""


def _routers() -> list[APIRouter]:
    found = []
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"gateway.routes.{name}")
        found.append(module.router)
    return found


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway application."""
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging("gateway", settings.telemetry.log_level, settings.telemetry.log_json)
        setup_tracing("gateway", settings.telemetry.otlp_endpoint)
        auth = settings.internal_auth
        app.state.upstreams = Upstreams(
            settings.service_urls(), settings.upstream_timeout,
            CallSigner(auth.key_bytes(), auth.internal_call_seconds),
        )
        app.state.ops_feed = OpsFeed(KafkaSettings().bootstrap,
                                     EventVerifier(auth.key_bytes()))
        app.state.ops_feed.start()
        settle_heap()  # start-up objects stay: later GC passes need not walk them
        log.info("gateway.started", port=settings.http_port)
        try:
            yield
        finally:
            await app.state.ops_feed.stop()
            await app.state.upstreams.close()

    app = FastAPI(
        title="Marketplace API", version="1.0.0", lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
        description="The public API of the privacy-first job marketplace.",
    )
    install_error_handlers(app)
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.forwarded_header = settings.forwarded_header
    for router in _routers():
        app.include_router(router)
    asyncapi_doc = build_asyncapi()

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """200 while the gateway process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"],
             responses={503: {"description": "A dependency is not ready."}})
    async def readyz(request: Request) -> JSONResponse:
        """200 only when every service, PostgreSQL and Kafka are up and consumers joined."""
        services = await service_readiness(request.app.state.upstreams)
        ready = all(s["ready"] for s in services.values())
        return JSONResponse({"ready": ready, "services": services},
                            status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus text format: the gateway's and every service's metrics."""
        body = await merged_metrics(request.app.state.upstreams)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/asyncapi.json", tags=["operations"])
    async def asyncapi() -> dict[str, Any]:
        """AsyncAPI 3.0 description of every Kafka event."""
        return asyncapi_doc

    @app.get("/ops", tags=["operations"], response_class=HTMLResponse)
    async def ops() -> HTMLResponse:
        """The operations dashboard (OPS-1): a page of live charts polling `/ops/data.json`.

        The page holds no figures; off the embedded default it sends the bearer token given
        in its address (`/ops#token=...`) with every poll."""
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    @app.get("/ops/data.json", tags=["operations"],
             responses={401: {"description": "`unauthenticated`"},
                        403: {"description": "`forbidden`: the ops role is required."}})
    async def ops_data(request: Request) -> JSONResponse:
        """The dashboard's figures: events/s per topic, consumer lag per service, dead
        letters, the privacy-request queue, consent decisions, scanner verdicts and
        retention actions. Open on the embedded default, the ops role otherwise."""
        await require_ops(request, settings.ops_open)
        ups = request.app.state.upstreams
        readiness = await service_readiness(ups)
        text = (await merged_metrics(ups)).decode()
        body = figures(readiness, text, request.app.state.ops_feed)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    app.add_middleware(LatencyMiddleware, service="gateway")
    app.add_middleware(TraceMiddleware, service="gateway")
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(MetricsPortMiddleware, port=settings.metrics_port)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: on every answer, errors too
    return app
