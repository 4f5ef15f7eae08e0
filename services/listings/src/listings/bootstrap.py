"""Composition root of the listings service: settings, projections, consumers, host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from kernel.guard import guard_of
from kernel.projections import table_migration
from kernel.service import Runtime, ServiceHost
from listings.adapters.compaction import Compactor
from listings.adapters.places import PlaceTable, netherlands
from listings.adapters.projections import EXTENSIONS, PROJECTIONS, PUBLISHED_TEXT
from listings.adapters.repository import Sealer
from listings.config import ListingsSettings
from listings.domain.errors import ListingsError
from listings.entrypoints.consumers import consumers
from listings.entrypoints.http import domain_error, router
from listings.service_layer.context import Context
from listings.service_layer.retention_ends import ENDERS

SERVICE = "listings"
"""The service's name: its PostgreSQL schema and topic prefix."""

_tables = table_migration(PROJECTIONS)


async def migrate(conn: asyncpg.Connection) -> None:
    """The trigram extension, then every registered table."""
    await conn.execute(EXTENSIONS)
    await _tables(conn)


def build(settings: ListingsSettings | None = None, places: PlaceTable | None = None
          ) -> ServiceHost:
    """The listings service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
        places: The place table; the shipped table of the Netherlands when omitted.
    """
    table = places or netherlands()
    settings = settings or ListingsSettings()

    async def on_start(rt: Runtime) -> None:
        rt.extra["ctx"] = Context(rt.pool, rt.store, Sealer(rt.keys), rt.index, table,
                                  guard_of(rt), webhook=settings.webhook_policy())
        compactor = Compactor(rt.settings.postgres.dsn(), [t.name for t in PUBLISHED_TEXT])
        rt.extra["compactor"] = compactor
        rt.extra["compactor_task"] = asyncio.create_task(compactor.run(),
                                                         name=f"{SERVICE}-compactor")

    host = ServiceHost(
        SERVICE, settings, routers=[router], consumers=consumers(),
        migrate=migrate, on_start=on_start, category_enders=ENDERS,
    )
    host.app.add_exception_handler(ListingsError, domain_error)
    _stop_compactor_on_shutdown(host)
    return host


def _stop_compactor_on_shutdown(host: ServiceHost) -> None:
    """Cancel the compactor when the host's lifespan ends (the host has no stop hook)."""
    inner = host.app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            try:
                yield state
            finally:
                rt = host.runtime
                task = rt.extra.pop("compactor_task", None) if rt is not None else None
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    host.app.router.lifespan_context = lifespan
