"""Fixtures of the kernel's tests: real pools on the session's PostgreSQL, unique names."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kernel.crypto import BlindIndex, KeyWrapper


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def index() -> BlindIndex:
    """A blind index under a random key."""
    return BlindIndex(os.urandom(32))


@pytest.fixture(scope="session")
def wrapper() -> KeyWrapper:
    """A key wrapper under a random master key."""
    return KeyWrapper(os.urandom(32))


@pytest.fixture(scope="session")
async def pool(infra: object) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session's ``marketplace`` database."""
    p = await asyncpg.create_pool(infra.pg_dsn("marketplace"), min_size=1, max_size=8)  # type: ignore[attr-defined]
    yield p
    await p.close()


@pytest.fixture(scope="session")
async def ks_pool(infra: object) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session's ``keystore`` database."""
    p = await asyncpg.create_pool(infra.pg_dsn("keystore"), min_size=1, max_size=4)  # type: ignore[attr-defined]
    yield p
    await p.close()
