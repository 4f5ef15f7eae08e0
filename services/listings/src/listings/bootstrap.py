"""Composition root of the listings service: settings, projections, consumers, host."""

from __future__ import annotations

import asyncpg

from kernel.guard import guard_of
from kernel.projections import table_migration
from kernel.service import Runtime, ServiceHost
from listings.adapters.places import PlaceTable, netherlands
from listings.adapters.projections import EXTENSIONS, PROJECTIONS
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

    async def on_start(rt: Runtime) -> None:
        rt.extra["ctx"] = Context(rt.pool, rt.store, Sealer(rt.keys), rt.index, table,
                                  guard_of(rt))

    host = ServiceHost(
        SERVICE, settings or ListingsSettings(), routers=[router], consumers=consumers(),
        migrate=migrate, on_start=on_start, category_enders=ENDERS,
    )
    host.app.add_exception_handler(ListingsError, domain_error)
    return host
