"""Fixtures of the accounts tests: the service in-process against the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts import bootstrap
from accounts.settings import AccountsSettings
from kernel.internal_auth import SignedCalls
from kernel.service import ServiceHost


@pytest.fixture(scope="session")
async def accounts_host(infra: Any) -> AsyncIterator[ServiceHost]:
    """The accounts service in this process, ready (migrated, consumers joined)."""
    settings = AccountsSettings(  # type: ignore[call-arg]
        argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1,
    )
    host = bootstrap.build(settings)
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(180)  # groups shared with the platform: slow under load
        yield host


@pytest.fixture
async def client(accounts_host: ServiceHost) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process internal API."""
    transport = httpx.ASGITransport(app=accounts_host.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://accounts",
                                 auth=SignedCalls("accounts")) as c:
        yield c
