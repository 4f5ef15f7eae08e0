"""Composition root of the messaging service: settings, projections, consumers, host."""

from __future__ import annotations

from kernel.projections import table_migration
from kernel.service import ServiceHost
from messaging.adapters.projections import PROJECTIONS
from messaging.config import MessagingSettings
from messaging.entrypoints.consumers import consumers

SERVICE = "messaging"
"""The service's name: its PostgreSQL schema and topic prefix."""


def build(settings: MessagingSettings | None = None) -> ServiceHost:
    """The messaging service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
    """
    return ServiceHost(
        SERVICE, settings or MessagingSettings(), consumers=consumers(),
        migrate=table_migration(PROJECTIONS),
    )
