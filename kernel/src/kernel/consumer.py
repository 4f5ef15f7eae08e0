"""Idempotent, batched consumers with a dead-letter topic.

A record is first checked to be signed by the service that owns its topic, then parsed,
and its envelope to name that service and one of its event types (``kernel.signing``); a
forged one is dead-lettered without its value and changes nothing. A batch is parsed;
what cannot be parsed goes to the dead-letter topic with its reason.
The rest is applied in one transaction that also records each event id as processed, so
a redelivered event has no second effect. If the batch fails, events are retried one by
one and only the failing ones are dead-lettered; the consumer carries on. While
PostgreSQL is unreachable the consumer waits and retries: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError

from contracts.envelope import Envelope, Event
from kernel.codec import decode_event, scopes_by_subject
from kernel.crypto import DataKey
from kernel.eventstore import DATABASE_DOWN
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from kernel.metrics import DEAD_LETTERS, EVENTS_CONSUMED, EVENTS_DUPLICATE
from kernel.signing import EventSigner, EventVerifier, Forged
from kernel.telemetry import batch_links, tracer

_tracer = tracer(__name__)
_REGISTRY = Event.registry

log = get_logger(__name__)


class Record(Protocol):
    """What the consumer needs of a Kafka record (aiokafka's ``ConsumerRecord``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class Delivered:
    """One event as a consumer sees it: envelope metadata and the decrypted event.

    The typed event is built on first access, so consumers that need only the envelope
    (projections by type and subject) skip the cost; a payload that does not match its
    schema then fails the handler, and the event alone is dead-lettered.
    """

    __slots__ = ("_event", "_key", "envelope")

    def __init__(self, envelope: Envelope, key: DataKey | None = None,
                 event: Event | None = None) -> None:
        self.envelope = envelope
        self._key = key
        self._event = event

    @property
    def event(self) -> Event:
        """The typed event, personal fields decrypted (or "erased")."""
        if self._event is None:
            env = self.envelope
            self._event = decode_event(env.event_type, env.schema_version, dict(env.payload),
                                       env.event_id, self._key)
        return self._event

    @property
    def event_id(self) -> UUID:
        """The event's id."""
        return self.envelope.event_id


def _describe(exc: Exception) -> str:
    """An exception for a dead-letter reason, without its message.

    Messages can quote decrypted values (a ``ValidationError`` shows its inputs), and the
    reason lands in a Kafka header and a log line in plaintext (SEC-1, SEC-4).
    """
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return f"ValidationError: {exc.error_count()} error(s) at {', '.join(fields)}"[:300]
    return type(exc).__name__


class DeadLetters(Protocol):
    """Where poison messages go."""

    async def send(self, record: Record, consumer: str, reason: str, keep_value: bool) -> None:
        """Dead-letter ``record`` with ``reason``."""
        ...


Handler = Callable[[asyncpg.Connection, list[Delivered]], Awaitable[None]]


class PoisonError(Exception):
    """A message that can never be processed."""


class IdempotentConsumer:
    """Applies events exactly once in effect.

    Args:
        name: Consumer name, unique within the service (the tracking key).
        service: The owning service (for metrics and logs).
        schema: The service's schema holding ``processed_events``.
        pool: The service's PostgreSQL pool.
        keys: Key store, used when ``decrypt`` is set.
        handler: Applies a batch of new events inside the given transaction.
        dead_letters: Where poison messages go.
        event_types: Event types the handler wants; others are acknowledged and skipped.
        decrypt: Whether personal fields are decrypted for the handler.
        verifier: Checks each record was signed by its topic's producer.
    """

    def __init__(
        self, name: str, service: str, schema: str, pool: asyncpg.Pool, keys: KeyStore,
        handler: Handler, dead_letters: DeadLetters, event_types: Collection[str] | None = None,
        decrypt: bool = False, *, verifier: EventVerifier,
    ) -> None:
        self.name = name
        self._service = service
        self._pool = pool
        self._keys = keys
        self._handler = handler
        self._dlq = dead_letters
        self._types = frozenset(event_types) if event_types is not None else None
        self._decrypt = decrypt
        self._verifier = verifier
        self._track = (
            f"INSERT INTO {schema}.processed_events (consumer, event_id) "
            f"SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id"
        )
        self.applied = 0

    async def handle_records(self, records: Sequence[Record]) -> None:
        """Process a batch of Kafka records; returns once every one is applied or dead-lettered.

        The batch runs in one span linked to the trace of every record (OPS-2), so events
        its handler appends carry the trace onwards.
        """
        with _tracer.start_as_current_span(
            f"consume {self.name}", links=batch_links(r.headers for r in records),
            attributes={"messaging.batch.message_count": len(records),
                        "messaging.consumer.group.name": self.name},
            record_exception=False, set_status_on_exception=False,
        ) as span:
            try:
                await self._handle(records)
            except BaseException as exc:
                # An exception's message can quote decrypted values: the span names its type.
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    async def _handle(self, records: Sequence[Record]) -> None:
        parsed: list[tuple[Record, Envelope]] = []
        for rec in records:
            if self._types is not None and not self._may_want(rec):
                continue
            try:
                signer = self._verifier.signer(rec)  # before a forger's JSON is parsed
                env = self._parse(rec)
                self._verifier.check_envelope(signer, env.producer, env.event_type)
            except Forged as exc:
                await self._dead_letter(rec, f"forged: {exc}", keep_value=False)
                continue
            except PoisonError as exc:
                await self._dead_letter(rec, str(exc), keep_value=False)
                continue
            if self._types is None or env.event_type in self._types:
                parsed.append((rec, env))
        if not parsed:
            return
        delivered = await self._decode(parsed)
        if not delivered:
            return
        try:
            await self._apply(delivered)
        except DATABASE_DOWN:
            await self._apply_when_back(delivered)
        except Exception as exc:
            log.warning("consumer.batch_failed", consumer=self.name, error=type(exc).__name__,
                        size=len(delivered))
            for rec, item in delivered:
                try:
                    await self._apply([(rec, item)])
                except Exception as one_exc:
                    await self._dead_letter(rec, f"handler failed: {_describe(one_exc)}",
                                            keep_value=True)

    def _may_want(self, rec: Record) -> bool:
        """Skip, unparsed, a record whose ``event_type`` header names an unwanted type."""
        assert self._types is not None
        for name, value in rec.headers or ():
            if name == "event_type":
                return value.decode(errors="replace") in self._types
        return True  # no header: parse it and decide (or dead-letter it)

    def _parse(self, rec: Record) -> Envelope:
        if rec.value is None:
            raise PoisonError("empty value (tombstone on an event topic)")
        try:  # one pass in pydantic-core: no Python dict in between
            return Envelope.model_validate_json(rec.value)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise PoisonError("not JSON") from exc
            raise PoisonError(f"not an event envelope: {exc.error_count()} error(s)") from exc

    async def _decode(
        self, parsed: list[tuple[Record, Envelope]]
    ) -> list[tuple[Record, Delivered]]:
        keys: dict[str, Any] = {}
        if self._decrypt:
            subjects = {env.subject_id for _, env in parsed if env.subject_id}
            scopes = scopes_by_subject(
                (env.subject_id, env.event_type, env.schema_version, env.payload)
                for _, env in parsed
            )
            keys = dict(await self._keys.keys_for_reading(subjects, scopes or None))
        out = []
        for rec, env in parsed:
            if (env.event_type, env.schema_version) not in _REGISTRY:
                await self._dead_letter(
                    rec, f"unknown event type: {env.event_type} v{env.schema_version}",
                    keep_value=True,
                )
                continue
            key = keys.get(env.subject_id) if env.subject_id else None
            out.append((rec, Delivered(env, key)))
        return out

    async def _apply(self, batch: list[tuple[Record, Delivered]]) -> None:
        unique: dict[UUID, Delivered] = {}
        for _, d in batch:
            unique.setdefault(d.event_id, d)  # a batch may hold the same event twice
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._track, self.name, list(unique))
            fresh_ids = {r["event_id"] for r in rows}
            fresh = [d for i, d in unique.items() if i in fresh_ids]
            if fresh:
                await self._handler(conn, fresh)
        dupes = len(batch) - len(fresh)
        if fresh:
            EVENTS_CONSUMED.labels(self._service, self.name).inc(len(fresh))
            self.applied += len(fresh)
        if dupes:
            EVENTS_DUPLICATE.labels(self._service, self.name).inc(dupes)

    async def _apply_when_back(self, batch: list[tuple[Record, Delivered]]) -> None:
        delay = 0.2
        while True:
            await asyncio.sleep(delay)
            try:
                await self._apply(batch)
                return
            except DATABASE_DOWN as exc:
                log.warning("consumer.database_unavailable", consumer=self.name,
                            error=type(exc).__name__)
                delay = min(delay * 2, 5.0)

    async def _dead_letter(self, rec: Record, reason: str, keep_value: bool) -> None:
        DEAD_LETTERS.labels(self._service, self.name, reason.split(":")[0][:40]).inc()
        log.warning("consumer.dead_letter", consumer=self.name, topic=rec.topic,
                    partition=rec.partition, offset=rec.offset, reason=reason[:200])
        await self._dlq.send(rec, self.name, reason, keep_value)


class KafkaDeadLetters:
    """Dead-letters to a topic through a started aiokafka producer.

    The original value is kept only when it parsed as an envelope (whose personal fields
    are ciphertext); otherwise only its digest and size are kept, so a malformed message
    cannot leak plaintext personal data into the dead-letter topic (SEC-1, ACC-3). A dead
    letter is signed by the service, like its events.
    """

    def __init__(self, producer_getter: Callable[[], Any], topic: str,
                 signer: EventSigner) -> None:
        self._producer = producer_getter
        self._topic = topic
        self._signer = signer

    async def send(self, record: Record, consumer: str, reason: str, keep_value: bool) -> None:
        """Publish the poison record with its reason and origin in headers."""
        value = record.value or b""
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.consumer", consumer.encode()),
            ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ("dlq.sha256", hashlib.sha256(value).hexdigest().encode()),
            ("dlq.size", str(len(value)).encode()),
        ]
        kept = value if keep_value else None
        headers.append(self._signer.header(self._topic, record.key, kept or b""))
        producer = self._producer()
        for attempt in range(50):
            try:
                await producer.send_and_wait(
                    self._topic, value=kept, key=record.key, headers=headers,
                )
                return
            except Exception as exc:
                log.warning("consumer.dead_letter_retry", error=type(exc).__name__,
                            attempt=attempt)
                await asyncio.sleep(0.5)
        log.error("consumer.dead_letter_lost", topic=record.topic, offset=record.offset)
