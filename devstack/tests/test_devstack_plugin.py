"""The ``infra`` fixture other test suites use: environment, databases and topics in place."""

from __future__ import annotations

import os

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import TOPICS
from devstack.pytest_plugin import Infra

pytestmark = pytest.mark.integration


async def test_infra_sets_the_environment_and_serves_both_databases(infra: Infra) -> None:
    assert os.environ["MARKET_PG_PORT"] == str(infra.pg_port)
    assert os.environ["MARKET_KAFKA_BOOTSTRAP"] == infra.kafka_bootstrap
    assert os.environ["MARKET_SECRETS_MASTER_KEY"] == infra.env["MARKET_SECRETS_MASTER_KEY"]
    for database in ("marketplace", "keystore"):
        conn = await asyncpg.connect(infra.pg_dsn(database))
        try:
            assert await conn.fetchval("SELECT current_database()") == database
        finally:
            await conn.close()


async def test_infra_has_every_topic(infra: Infra) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        assert {t.name for t in TOPICS} <= set(await admin.list_topics())
    finally:
        await admin.close()
