"""OpenTelemetry tracing; trace context travels in event rows and Kafka headers (OPS-2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

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
    """Links from a consumer batch span to the traces its records came from (distinct)."""
    links: list[trace.Link] = []
    seen: set[tuple[int, int]] = set()
    for headers in headers_per_record:
        if not headers:
            continue
        span_ctx = trace.get_current_span(context_from_headers(headers)).get_span_context()
        key = (span_ctx.trace_id, span_ctx.span_id)
        if span_ctx.is_valid and key not in seen:
            seen.add(key)
            links.append(trace.Link(span_ctx))
            if len(links) >= MAX_LINKS:
                break
    return links
