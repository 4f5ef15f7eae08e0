"""OpenTelemetry tracing; trace context travels in event rows and Kafka headers (OPS-2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_configured = False


def setup_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider; spans are exported by OTLP/HTTP only when configured."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str) -> trace.Tracer:
    """A tracer for one module."""
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, if any (stored with each event)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def kafka_headers(traceparent: str | None) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a stored trace context."""
    return [("traceparent", traceparent.encode())] if traceparent else []


def context_from_headers(
    headers: Sequence[tuple[str, bytes]] | Iterable[tuple[str, bytes]],
) -> otel_context.Context:
    """The trace context a Kafka record carries."""
    carrier = {k: v.decode("latin-1") for k, v in headers if k in ("traceparent", "tracestate")}
    return propagate.extract(carrier)


MAX_LINKS = 64
"""Most producer traces one consumer batch span links to."""


def batch_links(
    headers_per_record: Iterable[Sequence[tuple[str, bytes]] | None],
) -> list[trace.Link]:
    """Links from a consumer batch span to the traces its records came from (distinct).

    Records of one request share a ``traceparent``: each distinct header value is parsed
    once, so a batch costs a scan of its headers rather than a propagator call a record.
    """
    links: list[trace.Link] = []
    seen_raw: set[bytes] = set()
    seen: set[tuple[int, int]] = set()
    for headers in headers_per_record:
        raw = next((v for k, v in headers or () if k == "traceparent"), None)
        if raw is None or raw in seen_raw:
            continue
        seen_raw.add(raw)
        state = next((v for k, v in headers or () if k == "tracestate"), None)
        carrier = [("traceparent", raw)] + ([("tracestate", state)] if state else [])
        span_ctx = trace.get_current_span(context_from_headers(carrier)).get_span_context()
        key = (span_ctx.trace_id, span_ctx.span_id)
        if span_ctx.is_valid and key not in seen:
            seen.add(key)
            links.append(trace.Link(span_ctx))
            if len(links) >= MAX_LINKS:
                break
    return links


FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False, "metrics": False, "logs": False, "operation_spans": False,
}
"""FastAPI's own spans are off: they record ``url.path`` and ``url.query`` (ids and e-mail
addresses in the query, SEC-4). :class:`TraceMiddleware` makes the server spans instead."""

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/ops/data.json"})
"""Polled routes that make no span (probes, scrapes, the dashboard's polling)."""


class TraceMiddleware:
    """One server span per HTTP request, continuing the caller's ``traceparent`` (OPS-2).

    The span is named by method and route template and carries only the method, the route
    template and the status: never the concrete path, query string, client address or any
    header value (SEC-4). The gateway's span starts the trace every later hop continues:
    service calls carry it as a header, stored events in their row, Kafka records in theirs.
    """

    def __init__(
        self, app: ASGIApp, service: str, provider: trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self.service = service
        # a proxy until setup_tracing installs the provider (the stack is built before)
        self._tracer = (provider or trace.get_tracer_provider()).get_tracer(f"{service}.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        method = scope["method"]
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self._tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method},
        ) as span:
            try:
                await self.app(scope, receive, capture)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
