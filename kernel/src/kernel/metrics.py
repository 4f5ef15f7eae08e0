"""Prometheus metrics of the kernel (no personal data in labels, SEC-4)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_APPENDED = Counter(
    "events_appended", "Events appended to the service's event store.", ["service", "event_type"],
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "events_published", "Events the outbox relay published to Kafka.", ["service"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog", "Events appended but not yet published.", ["service"], registry=REGISTRY
)
RELAY_REPUBLISHES = Counter(
    "relay_republishes", "Full republishes from the event store after broker data loss.",
    ["service"], registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "events_consumed", "Events a consumer applied (duplicates excluded).",
    ["service", "consumer"], registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "events_duplicate", "Redelivered events skipped by an idempotent consumer.",
    ["service", "consumer"], registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "dead_letters", "Messages sent to the dead-letter topic.", ["service", "consumer", "reason"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "consumer_lag", "Records behind the partition high-water mark.", ["service", "consumer"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "http_request_seconds", "HTTP request latency.", ["service", "route", "method", "status"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
