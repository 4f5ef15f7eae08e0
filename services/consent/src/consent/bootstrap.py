"""Composition root of the consent service: settings, catalogue, projections, consumers, host."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import asyncpg

from consent.adapters.projections import ATTEMPTS, PROJECTIONS
from consent.config import ConsentSettings
from consent.domain.catalogue import Catalogue
from consent.domain.errors import ConsentError
from consent.entrypoints.consumers import consumers
from consent.entrypoints.http import domain_error, router
from consent.service_layer.context import Context
from contracts.consent import CatalogPublished
from kernel.attempts import Limit
from kernel.eventstore import ConcurrencyError, NewEvent, StreamHead
from kernel.projections import table_migration
from kernel.service import Runtime, ServiceHost

SERVICE = "consent"
"""The service's name: its PostgreSQL schema and topic prefix."""

CATALOGUE = Path(__file__).with_name("catalogue.json")
"""The versioned purpose catalogue shipped with the service."""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The purpose catalogue from its file."""
    return Catalogue.parse(json.loads((path or CATALOGUE).read_text(encoding="utf-8")))


async def publish_catalogue(rt: Runtime, catalogue: Catalogue) -> None:
    """Tell every guard the catalogue in force, once per catalogue version (CNS-7)."""
    async with rt.pool.acquire() as conn, conn.transaction():
        try:
            await rt.store.append(conn, f"catalogue-v{catalogue.version}", StreamHead(),
                                  [NewEvent(CatalogPublished(**catalogue.terms()), None)])
        except ConcurrencyError:
            pass  # already published by an earlier start


async def migrate(conn: asyncpg.Connection) -> None:
    """The projection tables and the attempt counters (idempotent)."""
    await table_migration(PROJECTIONS)(conn)
    await conn.execute(ATTEMPTS.ddl())


def build(settings: ConsentSettings | None = None,
          catalogue: Catalogue | None = None) -> ServiceHost:
    """The consent service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
        catalogue: The purpose catalogue; the shipped file when omitted.
    """
    s = settings or ConsentSettings()
    cat = catalogue or load_catalogue(s.catalogue_path)

    async def on_start(rt: Runtime) -> None:
        rt.extra["ctx"] = Context(rt.pool, rt.store, rt.keys, rt.index, cat, cookie_limit=Limit(
            s.cookie_writes_per_address, timedelta(seconds=s.cookie_window_seconds)))
        await publish_catalogue(rt, cat)

    host = ServiceHost(
        SERVICE, s, routers=[router], consumers=consumers(),
        migrate=migrate, on_start=on_start,
    )
    host.app.add_exception_handler(ConsentError, domain_error)
    return host
