"""Fixtures of the consent tests: the service in-process against the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from uuid import uuid4

import httpx
import pytest

from consent import bootstrap
from consent.config import ConsentSettings
from consent.service_layer.context import Context
from kernel.internal_auth import SignedCalls
from kernel.service import Runtime, ServiceHost

T = TypeVar("T")


@pytest.fixture(scope="session")
async def consent_host(infra: Any) -> AsyncIterator[ServiceHost]:
    """The consent service in this process, ready (migrated, consumers joined)."""
    host = bootstrap.build(ConsentSettings())  # type: ignore[call-arg]
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(180)  # groups shared with the platform: slow under load
        yield host


@pytest.fixture
def ctx(consent_host: ServiceHost) -> Context:
    """The handlers' context of the running service."""
    assert consent_host.runtime is not None
    context: Context = consent_host.runtime.extra["ctx"]
    return context


@pytest.fixture
async def client(consent_host: ServiceHost) -> AsyncIterator[httpx.AsyncClient]:
    """A signed HTTP client of the in-process internal API."""
    transport = httpx.ASGITransport(app=consent_host.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://consent",
                                 auth=SignedCalls("consent")) as c:
        yield c


@pytest.fixture
def member() -> str:
    """A fresh member id."""
    return str(uuid4())


@pytest.fixture
def h(member: str) -> dict[str, str]:
    """The identity headers the gateway sends for :func:`member`."""
    return {"X-Account-Id": member, "X-Session-Id": "s-" + member}


@pytest.fixture
def rt(consent_host: ServiceHost) -> Runtime:
    """The running service's resources."""
    assert consent_host.runtime is not None
    return consent_host.runtime


async def _eventually(check: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
    """Poll ``check`` until it returns a truthy value (eventual consistency over Kafka).

    Raises:
        AssertionError: it never did within ``within`` seconds (a bound, not a speed test).
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r} after {within} s")
        await asyncio.sleep(0.05)


Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def eventually() -> Eventually:
    """:func:`_eventually`, for tests."""
    return _eventually
