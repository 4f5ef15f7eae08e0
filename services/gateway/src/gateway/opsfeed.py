"""The dashboard's view of the event log: every topic tailed from its start (OPS-1).

Only figures leave this module: counts per topic and second, the privacy-request queue by
request id, type, status and deadline, counts of retention actions and scanner verdicts.
No subject id, no payload value beyond those enumerations (SEC-4). A record of a service's
topic that its producer did not sign (``kernel.signing``) is counted as refused and folded
into nothing else: a forged privacy request never reaches the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import TOPIC_PRODUCERS
from kernel.kafkameta import topic_partitions
from kernel.logs import get_logger
from kernel.settings import kafka_client_options
from kernel.signing import EventVerifier, Forged

log = get_logger(__name__)

WINDOW = 120
"""Seconds of per-topic history the charts show."""
RATE_SECONDS = 10
"""The events/s figure is the mean over this many whole seconds."""
VERDICTS = ("delivered", "quarantined", "blocked")
OPEN = ("received", "verified", "in_progress")
PARSED = frozenset({"retention.PrivacyRequestReceived", "retention.PrivacyRequestStatusChanged",
                    "messaging.MessageScanned"})
"""The only event types whose payload is read; the others are counted by their header."""


@dataclass
class PrivacyRequest:
    """One data-subject request as the queue shows it (no subject id)."""

    request_id: str
    type: str
    status: str
    due_at: datetime
    received_at: datetime

    def as_row(self, now: datetime) -> dict[str, Any]:
        """The queue row: overdue when still open past its deadline."""
        open_ = self.status in OPEN
        return {
            "request_id": self.request_id, "type": self.type, "status": self.status,
            "due_at": self.due_at.isoformat(), "received_at": self.received_at.isoformat(),
            "days_left": round((self.due_at - now).total_seconds() / 86400, 1),
            "overdue": open_ and self.due_at < now,
        }


@dataclass
class LogFigures:
    """Aggregates folded from the records; :meth:`fold` is pure and unit-testable."""

    per_second: dict[str, Counter[int]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    requests: dict[str, PrivacyRequest] = field(default_factory=dict)
    retention_actions: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    consent_decisions: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    """Records of each topic refused as forged (unsigned, or not its producer's)."""

    def fold(self, topic: str, timestamp_ms: int, value: bytes | None,
             event_type: str | None = None) -> None:
        """Count one record of ``topic`` produced at ``timestamp_ms``; ``event_type`` is
        its header, if any (a record of an uninteresting type is then never parsed)."""
        second = timestamp_ms // 1000
        counts = self.per_second.setdefault(topic, Counter())
        counts[second] += 1
        if len(counts) > 4 * WINDOW:  # nobody polled for a while: forget the old seconds
            self.prune(second)
        self.totals[topic] += 1
        if topic.endswith(".dead-letter.v1"):
            self.dead_letters[topic.split(".", 1)[0]] += 1
            return
        if value is None or not topic.endswith(".events.v1"):
            return
        if event_type is not None and event_type not in PARSED:
            self._event(event_type, {}, "")
            return
        try:
            env = orjson.loads(value)
            self._event(env["event_type"], env.get("payload") or {}, env["occurred_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return

    def _event(self, event_type: str, payload: dict[str, Any], occurred_at: str) -> None:
        if event_type == "retention.PrivacyRequestReceived":
            rid = str(payload["request_id"])
            self.requests[rid] = PrivacyRequest(
                rid, str(payload["type"]), "received",
                datetime.fromisoformat(payload["due_at"]), datetime.fromisoformat(occurred_at),
            )
        elif event_type == "retention.PrivacyRequestStatusChanged":
            req = self.requests.get(str(payload["request_id"]))
            if req is not None and payload.get("status") in (*OPEN, "completed", "refused"):
                req.status = str(payload["status"])
        elif event_type == "consent.ConsentDecisionRecorded":
            self.consent_decisions += 1
        if event_type.startswith("retention.") and event_type != "retention.PrivacyRequestReceived":
            self.retention_actions[event_type.split(".", 1)[1]] += 1
        elif event_type == "messaging.MessageScanned" and payload.get("outcome") in VERDICTS:
            self.verdicts[str(payload["outcome"])] += 1

    def prune(self, now_s: int) -> None:
        """Forget per-second counts older than the window."""
        for counts in self.per_second.values():
            for sec in [s for s in counts if s < now_s - WINDOW]:
                del counts[sec]

    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        """The figures as the dashboard's JSON shows them."""
        now = now or datetime.now(UTC)
        now_s = int(now.timestamp())
        self.prune(now_s)
        topics = {}
        for topic, counts in sorted(self.per_second.items()):
            series = [counts.get(s, 0) for s in range(now_s - WINDOW, now_s)]
            topics[topic] = {
                "total": self.totals[topic],
                "rate": sum(series[-RATE_SECONDS:]) / RATE_SECONDS,
                "series": series,
            }
        rows = [r.as_row(now) for r in self.requests.values()]
        queue = sorted((r for r in rows if r["status"] in OPEN), key=lambda r: r["due_at"])
        return {
            "topics": topics,
            "dead_letters": dict(self.dead_letters),
            "privacy_requests": {
                "open": len(queue), "overdue": sum(1 for r in queue if r["overdue"]),
                "closed": len(rows) - len(queue), "queue": queue[:50],
            },
            "retention_actions": dict(self.retention_actions),
            "scanner_verdicts": {v: self.verdicts[v] for v in VERDICTS},
            "consent_decisions_logged": self.consent_decisions,
            "forged_records_refused": dict(self.refused),
        }


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return bytes(value).decode("utf-8", "replace")
    return None


class OpsFeed:
    """Tails every topic of the broker without a consumer group, folding into figures.

    Args:
        bootstrap: The broker's bootstrap servers.
        verifier: Checks that each record of a service's topic is that service's.
        refresh_topics: Seconds between looks for topics created later.
    """

    def __init__(self, bootstrap: str, verifier: EventVerifier,
                 refresh_topics: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.verifier = verifier
        self.refresh_topics = refresh_topics
        self.figures = LogFigures()
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the tail in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._run(), name="ops-feed")

    async def stop(self) -> None:
        """Stop the tail."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._tail()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker away: try again, the page says so
                self.connected = False
                log.warning("ops_feed.broker_unavailable", error=type(exc).__name__)
                await asyncio.sleep(2.0)

    async def _tail(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", client_id="gateway-ops", fetch_max_wait_ms=200,
            **kafka_client_options(),
        )
        await consumer.start()
        try:
            assigned: set[TopicPartition] = set()
            looked = 0.0
            while True:
                if time.monotonic() - looked > self.refresh_topics:
                    looked = time.monotonic()
                    assigned = await self._assign(consumer, assigned)
                    self.connected = True
                if not assigned:
                    await asyncio.sleep(1.0)
                    continue
                # small batches, a pause between: the gateway's requests share this loop
                got = await consumer.getmany(timeout_ms=1000, max_records=500)
                for recs in got.values():
                    for rec in recs:
                        self.take(rec)
                await asyncio.sleep(0)
        finally:
            await consumer.stop()

    def take(self, rec: Any) -> None:
        """Fold one record, unless it is a service's and its producer did not sign it."""
        event_type = _header(rec.headers, "event_type")
        if rec.topic in TOPIC_PRODUCERS:
            try:
                signer = self.verifier.signer(rec)
                if event_type is not None:
                    self.verifier.check_envelope(signer, signer, event_type)
            except Forged:
                self.figures.refused[rec.topic] += 1
                return
        self.figures.fold(rec.topic, rec.timestamp, rec.value, event_type)

    @staticmethod
    async def _assign(
        consumer: AIOKafkaConsumer, assigned: set[TopicPartition],
    ) -> set[TopicPartition]:
        topics = await topic_partitions(consumer)
        parts = {TopicPartition(t, p) for t, ps in topics.items() if not t.startswith("__")
                 for p in ps}
        new = parts - assigned
        if new:
            # a new assignment forgets positions: keep those already reached
            kept = {tp: await consumer.position(tp) for tp in assigned & parts}
            consumer.assign(sorted(parts))
            for tp, offset in kept.items():
                consumer.seek(tp, offset)
            await consumer.seek_to_beginning(*new)
        return parts

