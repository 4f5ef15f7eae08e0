"""Composition root of the listings service: settings, projections, consumers, host."""

from __future__ import annotations

from kernel.projections import table_migration
from kernel.service import ServiceHost
from listings.adapters.projections import PROJECTIONS
from listings.config import ListingsSettings
from listings.entrypoints.consumers import consumers

SERVICE = "listings"
"""The service's name: its PostgreSQL schema and topic prefix."""


def build(settings: ListingsSettings | None = None) -> ServiceHost:
    """The listings service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
    """
    return ServiceHost(
        SERVICE, settings or ListingsSettings(), consumers=consumers(),
        migrate=table_migration(PROJECTIONS),
    )
