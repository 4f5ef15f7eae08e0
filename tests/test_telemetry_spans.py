"""The server span of every HTTP request (OPS-2): it continues the caller's trace and holds
the method, route template and status only, never a path, query or header value (SEC-4)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kernel.telemetry import FASTAPI_TELEMETRY, TraceMiddleware

pytestmark = pytest.mark.unit

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_ops_2_server_span_continues_the_trace_with_no_path_or_query() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI(telemetry=FASTAPI_TELEMETRY)

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing": thing_id}

    traced = TraceMiddleware(app, "svc", provider)
    transport = httpx.ASGITransport(app=traced)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/v1/things/member-42?email=ann@example.nl", headers={
            "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "authorization": "Bearer tok"})
        assert resp.status_code == 200
        assert (await client.get("/healthz")).status_code == 404

    (span,) = exporter.get_finished_spans()  # probes make no span
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.name == "GET /v1/things/{thing_id}"
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET", "http.route": "/v1/things/{thing_id}",
        "http.response.status_code": 200}
