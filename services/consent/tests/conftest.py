"""Fixtures of the consent tests: the service in-process against the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from consent import bootstrap
from consent.config import ConsentSettings
from consent.service_layer.context import Context
from kernel.internal_auth import SignedCalls
from kernel.service import ServiceHost


@pytest.fixture(scope="session")
async def consent_host(infra: Any) -> AsyncIterator[ServiceHost]:
    """The consent service in this process, ready (migrated, consumers joined)."""
    host = bootstrap.build(ConsentSettings())  # type: ignore[call-arg]
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(60)
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
                                 auth=SignedCalls()) as c:
        yield c


@pytest.fixture
def member() -> str:
    """A fresh member id."""
    return str(uuid4())


@pytest.fixture
def h(member: str) -> dict[str, str]:
    """The identity headers the gateway sends for :func:`member`."""
    return {"X-Account-Id": member, "X-Session-Id": "s-" + member}
