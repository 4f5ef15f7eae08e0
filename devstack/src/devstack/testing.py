"""Small helpers for tests that run against the embedded stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def unique(prefix: str = "t") -> str:
    """A name no other test uses, e.g. ``unique("alice")`` -> ``alice-3f2a9c1b7e``."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call ``check`` until it stops raising ``AssertionError``; return its result.

    Args:
        check: Asserts something that becomes true asynchronously.
        timeout: Seconds before the last ``AssertionError`` is re-raised.
        interval: Seconds between attempts.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]],
    timeout: float = 10.0,  # noqa: ASYNC109 - mirrors eventually(); a deadline, not a cancel
    interval: float = 0.05,
) -> T:
    """Await ``check()`` until it stops raising ``AssertionError``; return its result.

    Args:
        check: Asserts something that becomes true asynchronously.
        timeout: Seconds before the last ``AssertionError`` is re-raised.
        interval: Seconds between attempts.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)


def signature(service: str, topic: str, key: bytes | None, value: bytes) -> tuple[str, bytes]:
    """The signature header ``service``'s relay gives a record (``kernel.signing``), under
    the stack's internal key (``MARKET_SECRETS_INTERNAL_KEY``, set by the ``infra`` fixture):
    for tests that publish events as a service would."""
    from kernel.internal_auth import InternalAuthSettings
    from kernel.signing import EventSigner

    root = InternalAuthSettings().key_bytes()
    return EventSigner(root, service).header(topic, key, value)
