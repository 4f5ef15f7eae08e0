"""Traces across services (OPS-2) with no personal data in spans or metrics (SEC-4).

The test runs an OTLP/HTTP receiver, points the gateway, accounts and listings at it,
makes one request at the gateway, and follows the gateway's trace id to the accounts
service's span and to the span of a listings consumer that read the event from Kafka.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from members import sign_up
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from stack import Platform

pytestmark = pytest.mark.e2e

TRACED = ("gateway", "accounts", "listings")


@dataclass(frozen=True)
class Span:
    """One received span, flattened."""

    service: str
    name: str
    trace_id: str
    attributes: dict[str, str]
    links: tuple[str, ...]


class Receiver:
    """An OTLP/HTTP traces endpoint collecting every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                got = []
                for rs in req.resource_spans:
                    res = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            got.append(Span(
                                res.get("service.name", ""), s.name, s.trace_id.hex(),
                                {a.key: str(a.value).strip() for a in s.attributes},
                                tuple(link.trace_id.hex() for link in s.links)))
                with lock:
                    spans.extend(got)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def traced(platform: Platform) -> Iterator[Receiver]:
    receiver = Receiver()
    procs = platform.stack.services
    try:
        for name in TRACED:
            procs[name].env.update({"MARKET_OTLP_ENDPOINT": receiver.url,
                                    "OTEL_BSP_SCHEDULE_DELAY": "200"})
            platform.restart(name, wait_ready=False)  # all at once: each rejoins its groups
        platform.wait_ready(180)
        yield receiver
    finally:
        for name in TRACED:
            procs[name].env.pop("MARKET_OTLP_ENDPOINT", None)
            procs[name].env.pop("OTEL_BSP_SCHEDULE_DELAY", None)
        with contextlib.suppress(Exception):
            for name in TRACED:
                platform.restart(name, wait_ready=False)
            platform.wait_ready(180)
        receiver.close()


def test_ops_2_a_gateway_trace_reaches_the_service_and_a_kafka_consumer(
    traced: Receiver, platform: Platform,
) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        member = sign_up(client, "trace", login=False)

    def gateway_trace() -> str | None:
        return next((s.trace_id for s in traced.spans
                     if s.service == "gateway" and s.name == "POST /v1/accounts"), None)

    deadline = time.monotonic() + 30
    while True:
        trace_id = gateway_trace()
        consumer = [s for s in traced.spans if s.service == "listings"
                    and s.name.startswith("consume ") and trace_id in s.links]
        if trace_id and consumer:
            break
        assert time.monotonic() < deadline, sorted({(s.service, s.name) for s in traced.spans})
        time.sleep(0.5)
    service_spans = [s for s in traced.spans if s.service == "accounts" and s.trace_id == trace_id]
    assert any(s.name == "POST /internal/accounts" or s.name.startswith("POST ")
               for s in service_spans), service_spans

    # SEC-4: no personal data, identifier or query string in any span name or attribute
    secret = [*member.personal_values(), member.password, member.account_id]
    for span in traced.spans:
        text = " ".join([span.name, *span.attributes, *span.attributes.values()])
        assert not [v for v in secret if v in text], span
        assert "?" not in text and not {"url.query", "url.full", "http.url",
                                        "http.target"} & set(span.attributes), span


def test_sec_4_metric_names_and_labels_hold_no_personal_data_or_query(
    platform: Platform,
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        member = sign_up(client, "metrics")
        client.get(f"/v1/me?email={member.email}", headers=member.auth)
        client.get(f"/v1/privacy-requests/{member.account_id}", headers=member.auth)
        text = client.get("/metrics").text
    secret = [*member.personal_values(), member.account_id, member.token]
    families = list(text_string_to_metric_families(text))
    assert families
    for fam in families:
        for sample in fam.samples:
            shown = " ".join([sample.name, *sample.labels, *sample.labels.values()])
            assert not [v for v in secret if v in shown], sample
            assert "?" not in shown, sample
    routes = {s.labels["route"] for f in families for s in f.samples if "route" in s.labels}
    assert "/v1/privacy-requests/{request_id}" in routes  # the template, never the path
