"""The gateway's routes in front of an in-process accounts service, on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from accounts import bootstrap
from accounts.settings import AccountsSettings
from gateway.routes.members import router as members_router
from gateway.routes.staff import router as staff_router
from gateway.testing import InProcessUpstreams
from kernel.http import install_error_handlers
from kernel.service import ServiceHost


@dataclass
class AccountsGateway:
    """A gateway client and the accounts host behind it."""

    client: httpx.AsyncClient
    accounts: ServiceHost
    app: FastAPI


@pytest.fixture(scope="session")
async def accounts_gateway(infra: Any) -> AsyncIterator[AccountsGateway]:
    """A gateway with the member and staff routes, its accounts service in-process."""
    host = bootstrap.build(AccountsSettings(  # type: ignore[call-arg]
        argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1))
    async with host.app.router.lifespan_context(host.app):
        await host.wait_ready(180)  # groups shared with the platform: slow under load
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(members_router)
        app.include_router(staff_router)
        app.state.upstreams = InProcessUpstreams({"accounts": host.app})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gateway") as client:
            yield AccountsGateway(client, host, app)
        await app.state.upstreams.close()
