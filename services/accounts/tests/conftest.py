"""Fixtures of the accounts tests: the service in-process against the real stack."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Generator
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


_OWN_ROUTE = re.compile(r"^/internal/accounts/([^/?]+)(/|$)")


class AsTheMember(SignedCalls):
    """Signs like the gateway, which speaks for the member a member's own route names.

    A call to ``/internal/accounts/{id}...`` without ``X-Account-Id`` gets ``id`` as the
    signed caller, as the gateway's ``/v1/me...`` routes send it; a test that sets the
    header itself (another member, or empty) keeps its own.
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the caller's header where a member's own route expects it, then sign."""
        own = _OWN_ROUTE.match(request.url.path)
        if own and "x-account-id" not in request.headers:
            request.headers["X-Account-Id"] = own.group(1)
        yield from super().auth_flow(request)


@pytest.fixture
async def client(accounts_host: ServiceHost) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process internal API, signed as the gateway signs."""
    transport = httpx.ASGITransport(app=accounts_host.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://accounts",
                                 auth=AsTheMember("accounts")) as c:
        yield c
