"""The composition root of the accounts service: every I/O dependency is made here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg

from accounts.adapters.passwords import Argon2Passwords
from accounts.adapters.schema import migrate
from accounts.domain.errors import AccountsError
from accounts.domain.model import Terms
from accounts.domain.sessions import SessionPolicy
from accounts.domain.staff import StaffRefusal
from accounts.domain.throttle import Throttles
from accounts.entrypoints.erasure import erase_account
from accounts.entrypoints.http import domain_error, router
from accounts.entrypoints.locks import erasure_locks_consumer
from accounts.entrypoints.public_profiles import public_profiles_consumer
from accounts.entrypoints.staff_http import router as staff_router
from accounts.entrypoints.staff_http import staff_error
from accounts.service_layer.context import Context, Passwords
from accounts.service_layer.idle import sweep_forever
from accounts.service_layer.retention_ends import ENDERS
from accounts.settings import AccountsSettings
from kernel.crypto import BlindIndex
from kernel.erasure import erasure_consumer
from kernel.eventstore import EventStore
from kernel.keyring import KeyRing
from kernel.keystore import PostgresKeyStore
from kernel.service import Runtime, ServiceHost


def policies(s: AccountsSettings) -> tuple[Terms, SessionPolicy, Throttles]:
    """The domain rules as configured."""
    return (
        Terms(s.terms_version, s.terms_effective_from),
        SessionPolicy(short=timedelta(hours=s.short_session_hours),
                      long=timedelta(days=s.long_session_days),
                      step_up=timedelta(minutes=s.step_up_minutes)),
        Throttles(window=timedelta(seconds=s.login_window_seconds),
                  per_account=s.login_max_failures_per_account,
                  per_address=s.login_max_failures_per_address,
                  sign_up_window=timedelta(seconds=s.signup_window_seconds),
                  sign_ups_per_address=s.signup_max_per_address),
    )


def build(
    settings: AccountsSettings | None = None, passwords: Passwords | None = None
) -> ServiceHost:
    """The accounts service host: internal API, projections, erasure consumer."""
    s = settings or AccountsSettings()
    terms, policy, throttle = policies(s)

    async def on_start(rt: Runtime) -> None:
        hasher = passwords or Argon2Passwords(
            s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism
        )
        rt.extra["ctx"] = Context(rt.pool, rt.store, rt.keys, rt.index, hasher, terms, policy,
                                  throttle, s.min_age)
        rt.extra["idle"] = asyncio.create_task(sweep_forever(
            rt.extra["ctx"], s.idle_sweep_seconds, timedelta(days=s.idle_days),
            timedelta(days=s.idle_warning_days), lambda: rt.relay.stopping,
        ), name="accounts-idle-sweep")

    host = ServiceHost(
        "accounts", s, routers=[router, staff_router],
        consumers=[erasure_consumer(erase_account), public_profiles_consumer(),
                   erasure_locks_consumer()],
        migrate=migrate, on_start=on_start, category_enders=ENDERS,
    )
    host.app.add_exception_handler(AccountsError, domain_error)
    host.app.add_exception_handler(StaffRefusal, staff_error)
    return host


@asynccontextmanager
async def standalone(settings: AccountsSettings | None = None) -> AsyncIterator[Context]:
    """The handlers' context without HTTP or Kafka, for command-line tools (first DPO).

    Events land in the outbox; the running service's relay publishes them.
    """
    s = settings or AccountsSettings()
    terms, policy, throttle = policies(s)
    pool = await asyncpg.create_pool(s.postgres.dsn(), min_size=0, max_size=2)
    ks_pool = await asyncpg.create_pool(s.postgres.dsn(s.postgres.keystore_database),
                                        min_size=0, max_size=2)
    try:
        index = BlindIndex(s.secrets.index_key_bytes())
        keys = PostgresKeyStore(ks_pool, KeyRing.from_settings(s.secrets), index)
        await keys.migrate()
        store = EventStore("accounts", keys)
        async with pool.acquire() as conn:
            await store.migrate(conn)
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                   "migrate:accounts")
                await migrate(conn)
        hasher = Argon2Passwords(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)
        yield Context(pool, store, keys, index, hasher, terms, policy, throttle, s.min_age)
    finally:
        await pool.close()
        await ks_pool.close()
