"""The compacted public-profiles topic: latest public name per account, encrypted, and a
tombstone once the member is erased (ACC-10, ACC-9, RET-5)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from accounts.entrypoints.erasure import erase_account
from contracts.accounts import PUBLIC_PROFILES_TOPIC, PublicProfile
from kernel.kafkameta import topic_partitions
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration


async def latest(bootstrap: str, key: str) -> tuple[bool, bytes | None]:
    """(whether the key has any record, its latest value) on the compacted topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        found = (await topic_partitions(consumer)).get(PUBLIC_PROFILES_TOPIC, set())
        parts = [TopicPartition(PUBLIC_PROFILES_TOPIC, p) for p in sorted(found)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found, value, idle = False, None, 0
        while idle < 4:
            batch = await consumer.getmany(timeout_ms=250)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for r in records:
                    if r.key == key.encode():
                        found, value = True, r.value
        return found, value
    finally:
        await consumer.stop()


async def eventually_latest(bootstrap: str, key: str, check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found, value = await latest(bootstrap, key)
        if found and check(value):
            return value
        assert time.monotonic() < deadline, (found, value)
        await asyncio.sleep(0.3)


async def test_acc_10_public_name_is_shared_encrypted_and_tombstoned_on_erasure(
    client: httpx.AsyncClient, accounts_host: ServiceHost, infra: Any,
) -> None:
    tag = uuid.uuid4().hex[:10]
    body = {"email": f"{tag}@example.org", "password": "correct horse battery",
            "name": f"Name {tag}", "username": f"user_{tag}", "accept_terms_version": "2026-01"}
    resp = await client.post("/internal/accounts", json=body)
    assert resp.status_code == 201, resp.text
    account_id = resp.json()["account_id"]

    value = await eventually_latest(infra.kafka_bootstrap, account_id, lambda v: v is not None)
    assert body["username"].encode() not in value and body["name"].encode() not in value
    profile = PublicProfile.model_validate_json(value)
    assert profile.status == "active" and profile.pseudonym
    rt = accounts_host.runtime
    assert rt is not None and profile.username and profile.username_event_id
    key = (await rt.keys.keys_for_reading([account_id]))[account_id]
    assert key is not None
    aad = f"{profile.username_event_id}:username".encode()
    assert orjson.loads(key.open(profile.username, aad)) == body["username"]

    await rt.keys.destroy(account_id)  # retention shreds the key first (PRV-5)
    async with rt.pool.acquire() as conn, conn.transaction():
        await erase_account(rt, conn, account_id)
    await eventually_latest(infra.kafka_bootstrap, account_id, lambda v: v is None)
    async with rt.pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM accounts.public_profiles WHERE account_id = $1", account_id)
    assert left == 0


def _delivered(event_type: str, payload: dict[str, Any]) -> Any:
    from contracts.envelope import Envelope
    from kernel.consumer import Delivered

    env = Envelope(event_id=uuid.uuid4(), event_type=event_type, schema_version=1,
                   producer="accounts", stream_id="account-a", version=1, position=1,
                   occurred_at="2026-01-01T00:00:00+00:00", subject_id="a",  # type: ignore[arg-type]
                   payload=payload, prev_hash="00", hash="11")
    return Delivered(env)


@pytest.mark.unit
def test_acc_9_acc_10_profile_follows_rename_closure_and_erasure() -> None:
    from accounts.entrypoints.public_profiles import _next

    state = _next(None, _delivered("accounts.AccountRegistered",
                                   {"account_id": "a", "username": "enc:v1:x", "pseudonym": "p1"}))
    assert state and state["username"] == "enc:v1:x" and state["status"] == "active"
    renamed = _next(state, _delivered("accounts.AccountDetailsChanged", {"username": "enc:v1:y"}))
    assert renamed and renamed["username"] == "enc:v1:y"
    unchanged = _next(renamed, _delivered("accounts.AccountDetailsChanged", {"username": None}))
    assert unchanged == renamed
    closed = _next(renamed, _delivered("accounts.AccountClosed", {"pseudonym": "p2"}))
    assert closed and closed["status"] == "closed" and closed["username"] is None
    assert closed["pseudonym"] == "p2"
    assert _next(closed, _delivered("accounts.AccountErased", {"account_id": "a"})) is None
    assert _next(None, _delivered("accounts.AccountClosed", {"pseudonym": "p"})) is None
