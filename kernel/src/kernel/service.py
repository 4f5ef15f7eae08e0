"""The shape every service shares: settings, resources, consumers, HTTP app, lifecycle.

A service's ``bootstrap.py`` builds a :class:`ServiceHost` with its own routers,
projection tables and consumers; the host owns pools, the key store, the event store,
the outbox relay and the FastStream broker, made in the lifespan (never at import).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.security import SASLScram256, SASLScram512
from prometheus_client import generate_latest
from pydantic import Field
from pydantic_settings import BaseSettings

from contracts.topics import TOPICS, dead_letter_topic, events_topic
from kernel.consumer import Handler, IdempotentConsumer, KafkaDeadLetters
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from kernel.heap import settle_heap
from kernel.http import BodyLimitMiddleware, LatencyMiddleware, install_error_handlers
from kernel.internal_auth import (
    CallVerifier,
    InternalAuthMiddleware,
    InternalAuthSettings,
    PostgresNonces,
    nonce_ddl,
)
from kernel.journal import ErasureJournal
from kernel.keycache import CachedKeyStore
from kernel.keyfeed import KeyDropFeed
from kernel.keyring import KeyRing
from kernel.keystore import PostgresKeyStore
from kernel.logs import get_logger, setup_logging
from kernel.metrics import CONSUMER_LAG, REGISTRY
from kernel.relay import OutboxRelay
from kernel.settings import (
    KafkaSettings,
    PostgresSettings,
    SecretsSettings,
    TelemetrySettings,
    kafka_client_options,
)
from kernel.signing import EventSigner, EventVerifier
from kernel.telemetry import FASTAPI_TELEMETRY, TraceMiddleware, setup_tracing

log = get_logger(__name__)


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set ``env_prefix`` and ``http_port``."""

    http_host: str = Field("127.0.0.1", description="Internal API address (loopback only).")
    http_port: int = Field(description="Internal API port.")
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    internal_auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)


@dataclass
class Runtime:
    """Resources of a running service, handed to its handlers and routes."""

    name: str
    settings: ServiceSettings
    pool: asyncpg.Pool
    keystore_pool: asyncpg.Pool
    keys: CachedKeyStore
    index: BlindIndex
    store: EventStore
    relay: OutboxRelay
    broker: KafkaBroker
    producer: AIOKafkaProducer | None = None
    consumers: dict[str, IdempotentConsumer] = field(default_factory=dict)
    ready_parts: dict[str, bool] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer group of the service: which topics and event types, and its handler."""

    name: str
    topics: Sequence[str]
    handler: Callable[[Runtime], Handler]
    event_types: Sequence[str] | None = None
    decrypt: bool = False
    on_restore: Callable[[Runtime, asyncpg.Connection, str], Awaitable[Any]] | None = None
    """Erases one subject here again after a backup was restored (``kernel.journal``)."""


Migration = Callable[[asyncpg.Connection], Awaitable[None]]


async def _raw_records(message: Any) -> None:
    """FastStream decoder that decodes nothing: the kernel consumer parses raw records."""
    return None


async def _raw_batch(message: tuple[Any, ...], original: Callable[..., Awaitable[Any]]) -> Any:
    """FastStream batch parser that leaves the records as they are.

    The default one builds a body list and a header dict for every record, which nothing
    here reads: the kernel consumer reads the raw records. Its message (ack, nack, the
    consumer to commit) is made for the first record and given the whole batch.
    """
    parsed = await original(message[:1])
    parsed.raw_message = message
    return parsed


def _security(k: KafkaSettings) -> SASLScram256 | SASLScram512 | None:
    """The broker's login as FastStream takes it (``KafkaSettings.client_options``)."""
    if k.security_protocol == "PLAINTEXT":
        return None
    options = k.client_options()
    cls = SASLScram512 if k.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return cls(k.username, k.password.get_secret_value(), ssl_context=options.get("ssl_context"),
               use_ssl=k.security_protocol == "SASL_SSL")


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset round trip.

    The kernel keeps no session state on pooled connections (no SET, no session advisory
    lock left held, LISTEN removed before release); an open transaction is still rolled
    back by the pool. This saves one round trip on every acquire/release.
    """


def _dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task waits (code locations only, no values)."""
    for task in asyncio.all_tasks():
        frames: list[str] = []
        awaited: Any = task.get_coro()
        while awaited is not None and len(frames) < 60:  # follow the await chain down
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                code = frame.f_code
                frames.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} "
                              f"{code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        log.warning("service.task", task=task.get_name(), frames=frames)


def erasure_replay_ddl(schema: str) -> str:
    """The queue of subjects to erase again after a restore (filled by ``devstack restore``)."""
    return f"""
CREATE TABLE IF NOT EXISTS {schema}.erasure_replay (
    subject_id text PRIMARY KEY,
    queued_at  timestamptz NOT NULL DEFAULT now()
);
"""


async def _start_concurrently(broker: KafkaBroker) -> None:
    """``broker.start()``, with every subscriber started at once.

    faststream starts subscribers one after the other, and each aiokafka consumer's
    ``start()`` waits for its group's partitions: at ~3 s per new group join (measured on
    the earlier broker), a service of six consumers took ~18 s to be ready (at start and
    after every restart).
    """
    await broker.connect()
    await asyncio.gather(*(sub.start() for sub in broker.subscribers))
    for pub in broker.publishers:
        await pub.start()
    broker.running = True


class ServiceHost:
    """Builds and runs one service process.

    Args:
        name: Service name; also its PostgreSQL schema and topic prefix.
        settings: The service's settings.
        routers: Its internal HTTP API.
        consumers: Its consumer groups.
        migrate: Creates its projection tables (the event store's are made here).
        category_enders: Per data category, how the service ends that category's values in
            its projections when retention orders it (``kernel.categories``).
    """

    def __init__(
        self, name: str, settings: ServiceSettings, routers: Sequence[APIRouter] = (),
        consumers: Sequence[ConsumerSpec] = (), migrate: Migration | None = None,
        on_start: Callable[[Runtime], Awaitable[None]] | None = None,
        category_enders: Mapping[str, Any] | None = None,
    ) -> None:
        # Every service runs the contact guard (CNS-7) over its own consent projection,
        # gives its part of exports and ends categories whose period is over (RET-2).
        from kernel.categories import category_consumer  # builds on this module too
        from kernel.export import export_consumer  # builds on this module too
        from kernel.guard import guard_consumer, guard_migration  # builds on this module
        from kernel.outbound import dispatch_forever, outbound_migration

        self.name = name
        self.settings = settings
        self.routers = routers
        self.consumer_specs = consumers
        self._specs = [*consumers, guard_consumer(), export_consumer(),
                       category_consumer(category_enders or {})]
        self.migrate = outbound_migration(name, guard_migration(name, migrate))
        self._dispatch = dispatch_forever
        self.on_start = on_start
        self.runtime: Runtime | None = None
        self._nonces = PostgresNonces(name)  # shared by the replicas, kept across restarts
        self._tasks: list[asyncio.Task[Any]] = []
        self._subscribers: list[Any] = []
        self._verifier: EventVerifier | None = None
        self.app = self._build_app()

    def _build_broker(self, runtime_ref: list[Runtime]) -> KafkaBroker:
        """One consumer group for the whole service, fanning each batch out to its consumers.

        A group per consumer made every record fetched and decoded once per consumer (eleven
        times in retention), and some thirty groups polling kept the broker busy while idle.
        Each consumer still tracks what it applied under its own name, so the group's name
        carries a digest of the consumer names: adding one starts a new group from the
        earliest offsets, and the consumers that had already applied an event skip it.
        """
        k = self.settings.kafka
        broker = KafkaBroker(
            k.bootstrap, client_id=self.name, logger=None, enable_idempotence=False,
            security=_security(k),
        )
        topics = list(dict.fromkeys(t for spec in self._specs for t in spec.topics))
        names = ",".join(sorted(spec.name for spec in self._specs))
        digest = hashlib.sha256(names.encode()).hexdigest()[:8]
        sub = broker.subscriber(
            *topics, group_id=f"{k.group_prefix}{self.name}.{digest}", batch=True,
            auto_offset_reset="earliest", max_records=k.consumer_batch,
            session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=k.heartbeat_interval_ms, ack_policy=AckPolicy.ACK,
            batch_timeout_ms=100, fetch_max_wait_ms=k.fetch_max_wait_ms,
            title=f"{self.name}.consumers", decoder=_raw_records, parser=_raw_batch,
        )
        wanted = {spec.name: frozenset(spec.topics) for spec in self._specs}

        async def handle(body: Any, message: KafkaMessage) -> None:
            records = message.raw_message
            consumers = runtime_ref[0].consumers
            jobs = []
            for name, spec_topics in wanted.items():
                mine = [r for r in records if r.topic in spec_topics]
                if mine:
                    jobs.append(consumers[name].handle_records(mine))
            # Concurrently, each in its own transaction: a batch costs the slowest
            # consumer's time, not the sum. Every job runs to its end before a failure
            # is raised, so the batch is redelivered (each consumer skips what it applied).
            results = await asyncio.gather(*jobs, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

        sub(handle)
        self._subscribers.append(sub)
        return broker

    def _build_app(self) -> FastAPI:
        app = FastAPI(title=f"{self.name} (internal)", lifespan=self._lifespan,
                      docs_url=None, redoc_url=None, telemetry=FASTAPI_TELEMETRY)
        install_error_handlers(app)
        for router in self.routers:
            app.include_router(router)

        @app.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> JSONResponse:
            parts = await self.readiness()
            status = 200 if all(parts.values()) else 503
            return JSONResponse({"service": self.name, "ready": status == 200, "parts": parts},
                                status_code=status)

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            await self._update_lag()
            return Response(generate_latest(REGISTRY), media_type="text/plain; version=0.0.4")

        auth = self.settings.internal_auth
        app.add_middleware(InternalAuthMiddleware, verifier=CallVerifier(
            auth.key_bytes(), self.name, auth.internal_call_seconds, nonces=self._nonces))
        app.add_middleware(LatencyMiddleware, service=self.name)
        app.add_middleware(TraceMiddleware, service=self.name)
        app.add_middleware(BodyLimitMiddleware)
        return app

    async def readiness(self) -> dict[str, bool]:
        """Each part the service needs, and whether it is up."""
        rt = self.runtime
        if rt is None:
            return {"started": False}
        parts = {"migrated": rt.ready_parts.get("migrated", False)}
        try:
            await asyncio.wait_for(rt.pool.fetchval("SELECT 1"), 1.0)
            await asyncio.wait_for(rt.keystore_pool.fetchval("SELECT 1"), 1.0)
            parts["postgres"] = True
        except Exception:
            parts["postgres"] = False
        parts["relay"] = rt.relay.connected
        parts["consumers"] = bool(rt.ready_parts.get("broker")) and all(
            sub.consumer is not None and bool(sub.consumer.assignment())
            for sub in self._subscribers
        )
        return parts

    async def _update_lag(self) -> None:
        """Each consumer's lag: the service's group's lag over that consumer's topics."""
        for sub in self._subscribers:
            consumer = sub.consumer
            if consumer is None:
                continue
            by_topic: dict[str, int] = {}
            with contextlib.suppress(Exception):
                for tp in consumer.assignment():
                    high = consumer.highwater(tp)
                    pos = await asyncio.wait_for(consumer.position(tp), 0.5)
                    if high is not None:
                        by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(0, high - pos)
            for spec in self._specs:
                CONSUMER_LAG.labels(self.name, spec.name).set(
                    sum(by_topic.get(t, 0) for t in spec.topics))

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        s = self.settings
        setup_logging(self.name, s.telemetry.log_level, s.telemetry.log_json)
        setup_tracing(self.name, s.telemetry.otlp_endpoint)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
        pg = s.postgres
        pool = await asyncpg.create_pool(
            pg.dsn(), min_size=0, max_size=pg.pool_max, command_timeout=pg.command_timeout,
            timeout=3.0, server_settings={
                "application_name": self.name,
                # A stalled or frozen holder of a transaction (a relay awaiting Kafka acks
                # in a paused process) must not block the service's other replicas for long.
                "idle_in_transaction_session_timeout": "15000",
            },
            reset=_no_session_reset,
        )
        ks_pool = await asyncpg.create_pool(
            pg.dsn(pg.keystore_database), min_size=0, max_size=4,
            command_timeout=pg.command_timeout, timeout=3.0,
            server_settings={"application_name": f"{self.name}-keystore"},
            reset=_no_session_reset,
        )
        await self._nonces.open(pg.dsn())
        index = BlindIndex(s.secrets.index_key_bytes())
        journal = s.secrets.erasure_journal
        pg_keys = PostgresKeyStore(ks_pool, KeyRing.from_settings(s.secrets), index,
                                   ErasureJournal(journal) if journal else None)
        keys = CachedKeyStore(pg_keys, s.secrets.key_cache_seconds)
        store = EventStore(self.name, keys)
        # Records are signed as this service's and checked to be their topic's producer's
        # (kernel.signing), under keys derived from the internal key.
        root = s.internal_auth.key_bytes()
        signer, verifier = EventSigner(root, self.name), EventVerifier(root)
        self._verifier = verifier
        relay = OutboxRelay(
            pool, self.name, self.name, events_topic(self.name), s.kafka.bootstrap, TOPICS,
            batch=s.kafka.relay_batch, linger_ms=s.kafka.linger_ms, signer=signer,
        )
        store.on_append = relay.wake  # its rows are this relay's to publish at once
        ref: list[Runtime] = []
        broker = self._build_broker(ref)
        rt = Runtime(self.name, s, pool, ks_pool, keys, index, store, relay, broker)
        ref.append(rt)
        dlq = KafkaDeadLetters(lambda: rt.producer, dead_letter_topic(self.name), signer)
        for spec in self._specs:
            rt.consumers[spec.name] = IdempotentConsumer(
                spec.name, self.name, self.name, pool, keys, spec.handler(rt), dlq,
                spec.event_types, spec.decrypt, verifier=verifier,
            )
        self.runtime = rt
        app.state.runtime = rt
        self._tasks = [asyncio.create_task(self._start(rt, pg_keys), name=f"{self.name}-start")]
        log.info("service.starting", port=s.http_port)
        try:
            yield
        finally:
            await self._stop(rt)

    async def _start(self, rt: Runtime, pg_keys: PostgresKeyStore) -> None:
        """Bring dependencies up in order, retrying while PostgreSQL or Kafka is down."""
        delay = 0.2
        while True:
            try:
                await pg_keys.migrate()
                async with rt.pool.acquire() as conn:
                    await rt.store.migrate(conn)
                    async with conn.transaction():  # before any call is accepted
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                           self.name)
                        await conn.execute(nonce_ddl(self.name))
                    if self.migrate is not None:
                        async with conn.transaction():
                            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                               f"migrate:{self.name}")
                            await self.migrate(conn)
                break
            except Exception as exc:
                log.warning("service.migrate_retry", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)
        if self.on_start is not None:
            await self.on_start(rt)
        delay = 0.2
        while True:
            try:
                await self._erase_restored(rt)  # before the service may report ready
                break
            except Exception as exc:
                log.warning("service.restored_erasures_retry", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)
        rt.ready_parts["migrated"] = True
        self._tasks.append(asyncio.create_task(self._keep_relaying(rt), name=f"{self.name}-relay"))
        self._tasks.append(asyncio.create_task(self._dispatch(rt), name=f"{self.name}-outbound"))
        assert self._verifier is not None  # made in the lifespan, before this task
        feed = KeyDropFeed(rt.settings.kafka.bootstrap, events_topic("retention"),
                           rt.keys.forget, f"{self.name}-keyfeed", self._verifier)
        rt.extra["keyfeed"] = feed
        self._tasks.append(asyncio.create_task(feed.run(), name=f"{self.name}-keyfeed"))
        delay = 0.2
        while True:
            try:
                producer = AIOKafkaProducer(
                    bootstrap_servers=rt.settings.kafka.bootstrap, acks="all",
                    enable_idempotence=False, client_id=f"{self.name}-dlq",
                    **kafka_client_options(),
                )
                await producer.start()
                rt.producer = producer
                await _start_concurrently(rt.broker)
                rt.ready_parts["broker"] = True
                # Start-up objects never die: keep them out of every later GC pass, which
                # otherwise walks them all and stalls requests (p99 latency); collect
                # seldom enough for batches of events (kernel.heap).
                settle_heap()
                log.info("service.ready")
                return
            except Exception as exc:
                log.warning("service.broker_retry", error=type(exc).__name__)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(rt.broker.stop(), 3.0)
                if rt.producer is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(rt.producer.stop(), 3.0)
                    rt.producer = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)

    async def _erase_restored(self, rt: Runtime) -> None:
        """Erase again each subject a restored backup brought back, before being ready.

        ``devstack restore`` queues them in ``<schema>.erasure_replay`` from the erasure
        journal; each is erased here in its own transaction, then dequeued.
        """
        erasers = [spec.on_restore for spec in self._specs if spec.on_restore is not None]
        async with rt.pool.acquire() as conn:
            await conn.execute(erasure_replay_ddl(self.name))
            pending = [r["subject_id"] for r in await conn.fetch(
                f"SELECT subject_id FROM {self.name}.erasure_replay ORDER BY queued_at")]
            for subject_id in pending:
                async with conn.transaction():
                    for erase in erasers:
                        await erase(rt, conn, subject_id)
                    await conn.execute(
                        f"DELETE FROM {self.name}.erasure_replay WHERE subject_id = $1",
                        subject_id)
        if pending:
            log.info("service.restored_erasures_applied", subjects=len(pending))

    async def _keep_relaying(self, rt: Runtime) -> None:
        """Run the outbox relay until stopped, starting it again should it ever end."""
        while True:
            try:
                await rt.relay.run()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if rt.relay.stopping or (task is not None and task.cancelling()):
                    raise
                log.error("relay.ended", error="CancelledError")  # a stray one from a library
            except Exception as exc:
                log.error("relay.ended", error=type(exc).__name__)
            if rt.relay.stopping:
                return
            await asyncio.sleep(0.5)

    async def _stop(self, rt: Runtime) -> None:
        rt.relay.stop()
        for task in self._tasks:
            if task.get_name().endswith(("-start", "-outbound", "-keyfeed")):
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(rt.broker.stop(), 5.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)
        if rt.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rt.producer.stop(), 3.0)
        with contextlib.suppress(Exception):
            await self._nonces.close()
        for pool in (rt.pool, rt.keystore_pool):
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except Exception as exc:
                # A task that outlived its cancellation still holds a connection: a stop
                # must not hang on it (nothing uncommitted survives a terminated connection).
                log.warning("service.pool_terminated", error=type(exc).__name__)
                pool.terminate()
        log.info("service.stopped")

    async def wait_ready(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until every part is ready (for in-process hosts, e.g. in tests).

        Raises:
            TimeoutError: with the parts that were not ready.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while not all((parts := await self.readiness()).values()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name} not ready: {parts}")
            await asyncio.sleep(0.2)

    def serve(self) -> None:
        """Run the internal HTTP API and everything behind it until SIGINT/SIGTERM."""
        uvicorn.run(
            self.app, host=self.settings.http_host, port=self.settings.http_port,
            log_config=None, access_log=False, timeout_graceful_shutdown=10,
        )
