"""Composition root of the consent service: settings, projections, consumers, host."""

from __future__ import annotations

from consent.adapters.projections import PROJECTIONS
from consent.config import ConsentSettings
from consent.entrypoints.consumers import consumers
from kernel.projections import table_migration
from kernel.service import ServiceHost

SERVICE = "consent"
"""The service's name: its PostgreSQL schema and topic prefix."""


def build(settings: ConsentSettings | None = None) -> ServiceHost:
    """The consent service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
    """
    return ServiceHost(
        SERVICE, settings or ConsentSettings(), consumers=consumers(),
        migrate=table_migration(PROJECTIONS),
    )
