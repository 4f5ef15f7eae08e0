"""Trace context travels with events: stored with the event, in Kafka headers, linked by
the consumer (OPS-2)."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.accounts import SessionStarted
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from kernel.telemetry import batch_links, context_from_headers, kafka_headers

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_an_event_carries_the_trace_of_the_command_that_made_it(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    store = EventStore("t", InMemoryKeyStore())
    s = str(uuid.uuid4())
    with tracer.start_as_current_span("POST /v1/accounts") as span:
        [rec] = await store.encode(
            f"s-{s}", StreamHead(),
            [NewEvent(SessionStarted(session_id="x", account_id=s, remember_me=False,
                                     expires_at="2030-01-01T00:00:00Z"), s)],  # type: ignore[arg-type]
        )
        trace_id = span.get_span_context().trace_id
    headers = kafka_headers(rec.trace_context)
    assert headers and headers[0][0] == "traceparent"
    received = trace.get_current_span(context_from_headers(headers)).get_span_context()
    assert received.trace_id == trace_id
    [link] = batch_links([headers, headers, None])  # distinct links only
    assert link.context.trace_id == trace_id
