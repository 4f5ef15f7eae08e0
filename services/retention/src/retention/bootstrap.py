"""The retention service's composition root."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import contracts
from contracts.topics import SERVICES
from kernel.service import Runtime, ServiceHost
from retention.adapters.register import load_records_basis
from retention.adapters.requests import RequestRepository
from retention.adapters.schema import migrate
from retention.adapters.staff import StaffRoles
from retention.adapters.subjects import SubjectProjection
from retention.entrypoints.consumers import consumer_specs
from retention.entrypoints.http import router
from retention.entrypoints.staff_http import router as staff_router
from retention.heads import heads_key
from retention.sealer import HeadSealer, run_sealer
from retention.service_layer import retries, schedule
from retention.settings import RetentionSettings


def load_contracts() -> None:
    """Import every contracts module so every event type is registered (RET-2 reads all)."""
    for mod in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"contracts.{mod.name}")


async def _wire(rt: Runtime) -> None:
    rt.extra["requests"] = RequestRepository(rt.store)
    rt.extra["subjects"] = SubjectProjection()
    rt.extra["staff"] = StaffRoles()


def build(settings: RetentionSettings | None = None,
          clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ServiceHost:
    """The retention service, ready to ``serve()`` or to enter its lifespan in tests.

    ``clock`` drives the retention schedule (RET-2); it is kept in ``rt.extra["clock"]``,
    read at every sweep, so tests move it as they move the messaging service's.
    """
    load_contracts()
    settings = settings or RetentionSettings()
    # a bad register stops the start (RET-1), its recipients too (SHR-1, SHR-4)
    register, recipients = load_records_basis(settings.register_file)

    async def wire(rt: Runtime) -> None:
        await _wire(rt)
        rt.extra["register"] = register
        rt.extra["recipients"] = recipients
        # the seed a master-key rotation fixed, if any (else the master key's)
        rt.extra["proof_key"] = Ed25519PrivateKey.from_private_bytes(
            settings.secrets.proof_seed_bytes())
        rt.extra["retries"] = asyncio.create_task(retries.run(
            rt.pool, rt.extra["requests"], timedelta(seconds=settings.erasure_retry_seconds),
            settings.erasure_escalate_after, lambda: rt.relay.stopping,
        ), name="retention-erasure-retries")
        rt.extra["clock"] = clock
        rt.extra["schedule"] = asyncio.create_task(schedule.loop(
            rt.pool, rt.keys, register, settings.schedule_interval_seconds,
            lambda: rt.extra["clock"](),
            lambda: rt.relay.stopping, store=rt.store, requests=rt.extra["requests"],
        ), name="retention-schedule")
        rt.extra["shredder"] = asyncio.create_task(retries.run_shredder(
            rt.pool, rt.extra["requests"], rt.keys, lambda: rt.relay.stopping,
        ), name="retention-erasure-shredder")
        if settings.heads_seal_seconds:  # AUD-2: the heads sealed without a manual step
            # the platform's own stores, whose events the auditor finds on their topics
            sealer = HeadSealer(settings.postgres.dsn(), settings.kafka.bootstrap,
                                heads_key(settings.secrets.index_key_bytes()),
                                producers=SERVICES)
            rt.extra["sealer"] = asyncio.create_task(run_sealer(
                sealer, settings.heads_seal_seconds, lambda: rt.relay.stopping,
            ), name="retention-heads-sealer")

    return ServiceHost(
        "retention", settings, routers=[router, staff_router],
        consumers=consumer_specs(), migrate=migrate, on_start=wire,
    )
