"""Fixtures of the listings tests: accounts and listings in-process behind the gateway routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from listings_market import Market

from accounts import bootstrap as accounts_bootstrap
from accounts.settings import AccountsSettings
from gateway.routes.listings import router as listings_router
from gateway.routes.members import router as members_router
from gateway.testing import InProcessUpstreams
from kernel.http import install_error_handlers
from listings import bootstrap
from listings.config import ListingsSettings


@pytest.fixture(scope="session")
async def market(infra: Any) -> AsyncIterator[Market]:
    """Accounts and listings in this process, behind the member and listing routes."""
    accounts = accounts_bootstrap.build(AccountsSettings(  # type: ignore[call-arg]
        argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1))
    listings = bootstrap.build(ListingsSettings())
    async with (accounts.app.router.lifespan_context(accounts.app),
                listings.app.router.lifespan_context(listings.app)):
        await accounts.wait_ready(180)  # groups shared with the platform: slow under load
        await listings.wait_ready(180)  # groups shared with the platform: slow under load
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(members_router)
        app.include_router(listings_router)
        app.state.upstreams = InProcessUpstreams({"accounts": accounts.app,
                                                  "listings": listings.app})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://gateway") as client:
            yield Market(client, accounts, listings, infra.kafka_bootstrap)
        await app.state.upstreams.close()
