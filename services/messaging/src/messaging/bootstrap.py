"""Composition root of the messaging service: settings, scanner, projections, consumers, host."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kernel.logs import get_logger
from kernel.projections import table_migration
from kernel.service import Runtime, ServiceHost
from messaging.adapters.projections import PROJECTIONS
from messaging.config import MessagingSettings
from messaging.domain.errors import MessagingError
from messaging.entrypoints import http, staff_http
from messaging.entrypoints.consumers import consumers
from messaging.scanning.api import Attachment, Scanner, Verdict
from messaging.service_layer import expiry
from messaging.service_layer.context import Context
from messaging.service_layer.retention_ends import ENDERS

log = get_logger(__name__)

SERVICE = "messaging"
"""The service's name: its PostgreSQL schema and topic prefix."""


class HoldEverything:
    """Fails closed while no scanner engine is installed: every message waits for review.

    Nothing unscanned ever reaches a recipient (MSG-2); trust and safety decide instead.
    """

    def scan(self, body: str, attachments: Sequence[Attachment] = ()) -> Verdict:
        """Quarantine, without a detector's reason (none has looked)."""
        return Verdict("quarantined")


def default_scanner() -> Scanner:
    """The scanner engines (``messaging.scanning.default_scanner``, MSG-2).

    Where they are not installed or cannot start, :class:`HoldEverything`, said loudly
    in the log.
    """
    from messaging import scanning

    make = getattr(scanning, "default_scanner", None)
    if make is None:
        log.error("messaging.scanner_missing", fallback="quarantine every message")
        return HoldEverything()
    try:
        scanner: Scanner = make()
    except Exception as exc:  # e.g. a signature database missing: hold, never let through
        log.error("messaging.scanner_unavailable", error=type(exc).__name__,
                  fallback="quarantine every message")
        return HoldEverything()
    return scanner


def build(settings: MessagingSettings | None = None, scanner: Scanner | None = None
          ) -> ServiceHost:
    """The messaging service, ready to ``serve()`` or to run in-process in tests.

    Args:
        settings: Its settings; read from the environment when omitted.
        scanner: The message scanner; the scanner engines when omitted.
    """
    s = settings or MessagingSettings()

    async def on_start(rt: Runtime) -> None:
        ctx = Context(rt.pool, rt.store, rt.keys, rt.index, scanner or default_scanner(), s)
        rt.extra["ctx"] = ctx
        rt.extra["expiry"] = asyncio.create_task(expiry.run(ctx, lambda: rt.relay.stopping),
                                                 name="messaging-expiry")

    host = ServiceHost(
        SERVICE, s, routers=[http.router, staff_http.router], consumers=consumers(),
        migrate=table_migration(PROJECTIONS), on_start=on_start, category_enders=ENDERS,
    )
    host.app.add_exception_handler(MessagingError, http.domain_error)

    return host
