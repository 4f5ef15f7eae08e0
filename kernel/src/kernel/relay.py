"""The outbox relay: publishes committed events to Kafka, in order, at least once.

It takes a batch of outbox rows under a transaction-scoped advisory lock (one relay per
service publishes at a time, which keeps per-subject order), sends them all, waits for
every acknowledgement, then deletes the rows.

Broker data loss (storage formatted anew, a cluster rebuilt) is detected by the broker
epoch: the first record of the epoch topic (kept for ever, ``contracts.topics``) holds a
random marker, written by the first relay that finds the topic empty. Each relay keeps
the marker it last published under in its own schema; a different marker means the
broker lost its data, and the relay republishes every event from its event store, the
source of truth (consumers are idempotent). The cluster id cannot tell: a cluster
formatted with a fixed id (as container images do) keeps it when its storage is wiped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from contracts.topics import EPOCH_TOPIC, TOPICS, TopicSpec
from kernel.logs import get_logger
from kernel.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, RELAY_REPUBLISHES
from kernel.settings import kafka_client_options
from kernel.signing import SIGNATURE_HEADER, EventSigner
from kernel.telemetry import kafka_headers

log = get_logger(__name__)

POLL_SECONDS = 0.25
"""How often an idle relay looks for rows other processes wrote (one cheap query)."""
EAGER_SECONDS = 0.5
"""How long after a wake the relay keeps looking every ``EAGER_POLL`` seconds."""
EAGER_POLL = 0.005
PIPELINED_BATCHES = 10
"""Most batches one transaction publishes (its rows are deleted at its commit)."""

def envelope_sql(producer: str) -> str:
    """The columns the relay reads: position, key, headers' sources and the envelope.

    PostgreSQL builds each envelope's JSON (``RecordedEvent.envelope_bytes``'s fields and
    text forms, the stored payload embedded byte for byte) in C, beside the relay's own
    process: on 2 cores that took a fifth of the relay's Python time off it.
    """
    return ("o.position, e.event_type, e.trace_context, "
            "coalesce(e.subject_id, e.stream_id) AS key, " + envelope_value_sql(producer)
            + " AS value")


def envelope_value_sql(producer: str) -> str:
    """The envelope of the row ``e`` of ``producer``'s events table, as PostgreSQL builds
    it: ``RecordedEvent.envelope_bytes`` field for field, the stored payload embedded byte
    for byte (the relay publishes it; the auditor's replay from the event stores reads it)."""
    name = orjson.dumps(producer).decode().replace("'", "''")
    return (
        "convert_to("
        "'{\"event_id\":\"' || e.event_id::text"
        " || '\",\"event_type\":' || to_json(e.event_type)::text"
        " || ',\"schema_version\":' || e.schema_version"
        f" || ',\"producer\":{name}'"
        " || ',\"stream_id\":' || to_json(e.stream_id)::text"
        " || ',\"version\":' || e.version || ',\"position\":' || e.position"
        " || ',\"occurred_at\":\"'"
        " || to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        " || '+00:00\",\"subject_id\":' || coalesce(to_json(e.subject_id)::text, 'null')"
        " || ',\"correlation_id\":' || coalesce('\"' || e.correlation_id::text || '\"', 'null')"
        " || ',\"causation_id\":' || coalesce('\"' || e.causation_id::text || '\"', 'null')"
        " || ',\"payload\":' || convert_from(e.payload, 'UTF8')"
        " || ',\"prev_hash\":\"' || encode(e.prev_hash, 'hex')"
        " || '\",\"hash\":\"' || encode(e.hash, 'hex') || '\"}', 'UTF8')"
    )


@functools.lru_cache(maxsize=200_000)
def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition of a key (murmur2), cached: a subject's events all map
    to one partition, and the pure-Python hash is the relay's costliest step otherwise."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


async def ensure_topics(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics that are missing, with their explicit partition counts."""
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    if missing:
        try:
            await admin.create_topics(
                [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
            )
        except TopicAlreadyExistsError:
            pass
    return [s.name for s in missing]


class OutboxRelay:
    """Publishes one service's outbox to its events topic.

    Args:
        pool: The service's PostgreSQL pool.
        schema: The service's schema (holding ``events`` and ``outbox``).
        service: Name published as the envelope's producer.
        topic: The service's events topic.
        bootstrap: Kafka bootstrap servers.
        topics: Every topic to (re)create when the broker has lost its data.
        batch: Most events published at once.
        signer: Signs each record as ``service``'s (``kernel.signing``): consumers refuse
            what it did not sign.
    """

    def __init__(
        self, pool: asyncpg.Pool, schema: str, service: str, topic: str, bootstrap: str,
        topics: Sequence[TopicSpec], batch: int = 2000, linger_ms: int = 5, *,
        signer: EventSigner,
    ) -> None:
        if signer.producer != service:
            raise ValueError("the relay signs as the service it publishes for")
        self._pool = pool
        self._schema = schema
        self._service = service
        self._topic = topic
        self._bootstrap = bootstrap
        self._topics = topics
        self._batch = batch
        self._linger = linger_ms
        self._sign = signer.sign
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.connected = False
        self.published = 0
        columns = envelope_sql(service)
        self._select = (
            f"SELECT {columns} FROM {schema}.outbox o JOIN {schema}.events e USING (position) "
            f"ORDER BY o.position LIMIT $1 FOR UPDATE OF o SKIP LOCKED"
        )
        self._select_after = (
            f"SELECT {columns} FROM {schema}.outbox o JOIN {schema}.events e USING (position) "
            f"WHERE o.position > $1 ORDER BY o.position LIMIT $2 FOR UPDATE OF o SKIP LOCKED"
        )
        self._lock_key = f"relay:{schema}"
        self._probe_sql = f"SELECT EXISTS (SELECT 1 FROM {schema}.outbox)"
        self._eager_until = 0.0
        self._woken_at = 0.0

    def wake(self) -> None:
        """Publish now rather than at the next poll.

        Called right after an append, maybe before its transaction commits: for a moment
        after a wake the relay looks again every few milliseconds (one cheap query each),
        not once a poll, until it has published rows written after the wake.
        """
        self._wake.set()
        with contextlib.suppress(RuntimeError):  # no running loop: the poll finds the rows
            self._woken_at = asyncio.get_running_loop().time()
            self._eager_until = self._woken_at + EAGER_SECONDS

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True,
            linger_ms=self._linger, max_batch_size=256 * 1024, request_timeout_ms=10_000,
            client_id=f"{self._service}-relay", **kafka_client_options(),
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                    client_id=f"{self._service}-relay-admin",
                                    **kafka_client_options())
        try:
            await producer.start()
            await admin.start()
        except BaseException:
            await producer.stop()
            with contextlib.suppress(Exception):
                await admin.close()
            raise
        self._producer, self._admin = producer, admin
        try:
            await ensure_topics(admin, [t for t in self._topics if t.name == self._topic]
                                + [t for t in TOPICS if t.name == EPOCH_TOPIC])
            self._probe = AIOKafkaConsumer(  # earliest: the first marker the log still holds
                bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
                auto_offset_reset="earliest", client_id=f"{self._service}-epoch",
                **kafka_client_options())
            await self._probe.start()
            self._probe.assign([TopicPartition(EPOCH_TOPIC, 0)])
            await self.check_epoch()
        except BaseException:
            # Half connected (e.g. PostgreSQL still starting during the epoch check): drop
            # everything so that the next attempt connects afresh, never stays half-way.
            await self._disconnect()
            raise
        self.connected = True

    async def _disconnect(self) -> None:
        """Drop the clients and reconnect with fresh ones.

        Closing runs in the background: stopping a producer flushes to a broker that may
        be gone, and a client's stop can outlast any timeout. Unsent rows stay in the
        outbox and are published after reconnecting.
        """
        self.connected = False
        clients = [c for c in (self._probe, self._producer, self._admin) if c is not None]
        self._producer = self._admin = self._probe = None
        for client in clients:
            closing = client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop()
            task = asyncio.create_task(closing)
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def republish_all(self) -> int:
        """Queue every stored event for publishing again; returns how many."""
        async with self._pool.acquire() as conn:
            return await self._republish(conn)

    async def _republish(self, conn: asyncpg.Connection) -> int:
        status = await conn.execute(
            f"INSERT INTO {self._schema}.outbox (position) "
            f"SELECT position FROM {self._schema}.events ON CONFLICT DO NOTHING"
        )
        count = int(status.split()[-1])
        RELAY_REPUBLISHES.labels(self._service).inc()
        log.warning("relay.republish", topic=self._topic, events=count)
        self.wake()
        return count

    async def publish_batch(self) -> int:
        """Publish outbox rows, a batch at a time; returns how many were published.

        Batches are pipelined in one transaction: while the broker acknowledges one, the
        next is read and queued (the producer keeps one request in flight per partition,
        so per-subject order holds). A batch's rows are deleted once its acks are in; an
        interrupted run leaves the rest in the outbox, published again (at least once).
        """
        assert self._producer is not None
        producer = self._producer
        total = 0
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                       self._lock_key):
                return 0
            rows = await conn.fetch(self._select, self._batch)
            futures = await self._send(producer, rows) if rows else []
            while rows:
                more: list[asyncpg.Record] = []
                if total + len(rows) < self._batch * PIPELINED_BATCHES:
                    more = await conn.fetch(self._select_after, rows[-1]["position"],
                                            self._batch)
                await asyncio.gather(*futures)
                await conn.execute(
                    f"DELETE FROM {self._schema}.outbox WHERE position = ANY($1::bigint[])",
                    [r["position"] for r in rows],
                )
                total += len(rows)
                rows = more
                futures = await self._send(producer, rows) if rows else []
        if total:
            EVENTS_PUBLISHED.labels(self._service).inc(total)
            self.published += total
        return total

    async def _send(self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> list[Any]:
        """Queue the rows as record batches, one open batch per partition, in row order.

        Building batches directly skips the producer's per-message path (partitioner,
        accumulator look-ups), the relay's costliest step; the partition is Kafka's
        default for the key, so consumers see the same mapping either way. Each record is
        signed over the envelope's bytes exactly as PostgreSQL built them.
        """
        topic, sign = self._topic, self._sign
        count = len(await producer.partitions_for(topic))
        builders: dict[int, Any] = {}
        futures = []
        for row in rows:
            key = row["key"].encode()
            value = row["value"]
            headers = [("event_type", row["event_type"].encode()),
                       (SIGNATURE_HEADER, sign(topic, key, value)),
                       *kafka_headers(row["trace_context"])]
            partition = partition_for(key, count)
            batch = builders.get(partition)
            if batch is None:
                batch = builders[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await producer.send_batch(batch, self._topic, partition=partition))
                batch = builders[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in builders.items():
            futures.append(await producer.send_batch(batch, self._topic, partition=partition))
        return futures

    async def _read_epoch(self) -> str | None:
        assert self._probe is not None
        tp = TopicPartition(EPOCH_TOPIC, 0)
        self._probe.seek(tp, 0)
        batch = await self._probe.getmany(tp, timeout_ms=1000, max_records=1)
        records = batch.get(tp, [])
        return records[0].value.decode() if records and records[0].value else None

    async def check_epoch(self) -> bool:
        """Republish everything if the broker's epoch differs from the last one published to.

        Returns:
            Whether a republish was started.
        """
        assert self._producer is not None
        epoch = await self._read_epoch()
        if epoch is None:  # a new cluster: mark it (relays racing here all read the first)
            await self._producer.send_and_wait(
                EPOCH_TOPIC, uuid.uuid4().hex.encode(), partition=0
            )
            epoch = await self._read_epoch()
            if epoch is None:
                raise KafkaError("broker epoch unreadable")
        known = await self._pool.fetchval(
            f"SELECT broker_epoch FROM {self._schema}.relay_state WHERE id = 1"
        )
        if known == epoch:
            return False
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self._schema}.relay_state (id, broker_epoch) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET broker_epoch = EXCLUDED.broker_epoch", epoch,
            )
            if known is not None or await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {self._schema}.events)"
            ):
                log.warning("relay.broker_epoch_changed", topic=self._topic)
                await self._republish(conn)
        return True

    async def run(self) -> None:
        """Publish until stopped; reconnect and back off while Kafka or PostgreSQL is down."""
        backoff = 0.2
        last_check = 0.0
        loop = asyncio.get_running_loop()
        woken = True
        try:
            while not self._stopping:
                try:
                    if self._producer is None:
                        await asyncio.wait_for(self._connect(), 20.0)
                        log.info("relay.connected", topic=self._topic)
                    if loop.time() - last_check > 2.0:
                        last_check = loop.time()
                        await self._update_backlog()
                        await self.check_epoch()
                    # A poll costs one cheap query; a batch needs a transaction.
                    sent, started = 0, loop.time()
                    if woken or await self._pool.fetchval(self._probe_sql):
                        sent = await self.publish_batch()
                    backoff = 0.2
                    woken = True
                    if sent and self._woken_at < started:
                        self._eager_until = 0.0  # what the last wake announced is out
                    if sent == 0:
                        self._wake.clear()
                        eager = loop.time() < self._eager_until
                        try:
                            await asyncio.wait_for(
                                self._wake.wait(), EAGER_POLL if eager else POLL_SECONDS)
                        except TimeoutError:
                            woken = False  # the next look is the cheap one
                except (Exception, asyncio.CancelledError) as exc:  # outlive any failure
                    task = asyncio.current_task()
                    if isinstance(exc, asyncio.CancelledError) and (
                            self._stopping or (task is not None and task.cancelling())):
                        raise  # a real cancellation: shutting down
                    db_error = isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError)
                    log.warning("relay.retry", topic=self._topic, error=type(exc).__name__,
                                backoff=backoff)
                    if not db_error:
                        await self._disconnect()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._disconnect()

    async def _update_backlog(self) -> None:
        backlog = await self._pool.fetchval(f"SELECT count(*) FROM {self._schema}.outbox")
        OUTBOX_BACKLOG.labels(self._service).set(backlog)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping

    def stop(self) -> None:
        """Ask the loop to finish after the current batch."""
        self._stopping = True
        self._wake.set()
