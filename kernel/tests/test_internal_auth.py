"""Signed internal calls (issues 11, 26): what the gateway vouches for cannot be altered,
sent to another service, or reused (by the same replica, another one, or after a restart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from stack import Infra

from kernel.internal_auth import (
    CallSigner,
    CallVerifier,
    InternalCallError,
    MemoryNonces,
    NonceStoreUnavailable,
    PostgresNonces,
    nonce_ddl,
)

from .conftest import unique

KEY = b"k" * 32
NOW = 1_800_000_000.0
IDENTITY = {"X-Account-Id": "alice", "X-Session-Id": "s1"}


def signed(service: str = "accounts", now: float = NOW, **overrides: object) -> dict[str, object]:
    call: dict[str, object] = {"method": "POST", "target": b"/internal/x?a=1",
                               "body": b'{"v": 1}', "headers": dict(IDENTITY)}
    signer = CallSigner(KEY, ttl=30, clock=lambda: now)
    call["signature"] = signer.sign(call["method"], call["target"], call["body"],  # type: ignore[arg-type]
                                    call["headers"], service=service)  # type: ignore[arg-type]
    call.update(overrides)
    return call


async def verify(call: dict[str, object], verifier: CallVerifier | None = None,
                 now: float = NOW) -> None:
    verifier = verifier or CallVerifier(KEY, "accounts", 30, clock=lambda: now)
    headers = [(k.lower().encode(), v.encode())
               for k, v in call["headers"].items()]  # type: ignore[attr-defined]
    await verifier.verify(call["method"], call["target"], call["body"],  # type: ignore[arg-type]
                          call["signature"], headers)  # type: ignore[arg-type]


@pytest.mark.unit
async def test_a_signed_call_is_accepted() -> None:
    await verify(signed())


@pytest.mark.unit
@pytest.mark.parametrize("change", [
    {"method": "DELETE"},
    {"target": b"/internal/y?a=1"},
    {"target": b"/internal/x?a=2"},
    {"body": b'{"v": 2}'},
    {"headers": {"X-Account-Id": "mallory", "X-Session-Id": "s1"}},
    {"headers": {"X-Account-Id": "alice"}},
    {"headers": {**IDENTITY, "X-Step-Up-Until": "2099-01-01T00:00:00+00:00"}},
])
async def test_any_change_to_a_covered_part_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(InternalCallError) as refused:
        await verify(signed(**change))
    assert refused.value.code == "bad_signature"


@pytest.mark.unit
async def test_a_call_signed_for_accounts_is_refused_by_listings() -> None:
    call = signed("accounts")
    listings = CallVerifier(KEY, "listings", 30, clock=lambda: NOW)
    with pytest.raises(InternalCallError) as refused:
        await verify(call, listings)
    assert refused.value.code == "wrong_service"


@pytest.mark.unit
async def test_a_destination_rewritten_in_the_header_does_not_match() -> None:
    """The destination is covered by the MAC: renaming it in the header breaks it."""
    call = signed("accounts")
    call["signature"] = str(call["signature"]).replace(".accounts.", ".listings.", 1)
    with pytest.raises(InternalCallError) as refused:
        await verify(call, CallVerifier(KEY, "listings", 30, clock=lambda: NOW))
    assert refused.value.code == "bad_signature"


@pytest.mark.unit
async def test_a_signature_under_another_key_is_refused() -> None:
    with pytest.raises(InternalCallError, match="does not match"):
        await verify(signed(), CallVerifier(b"o" * 32, "accounts", 30, clock=lambda: NOW))


@pytest.mark.unit
async def test_a_stale_call_is_refused() -> None:
    with pytest.raises(InternalCallError) as refused:
        await verify(signed(), now=NOW + 31)
    assert refused.value.code == "signature_expired"


@pytest.mark.unit
async def test_a_signature_valid_too_far_ahead_is_refused() -> None:
    with pytest.raises(InternalCallError, match="expired"):
        await verify(signed(), now=NOW - 3600)


@pytest.mark.unit
async def test_a_replayed_call_is_refused() -> None:
    verifier = CallVerifier(KEY, "accounts", 30, clock=lambda: NOW)
    call = signed()
    await verify(call, verifier)
    with pytest.raises(InternalCallError) as refused:
        await verify(call, verifier)
    assert refused.value.code == "signature_replayed"


@pytest.mark.unit
@pytest.mark.parametrize("garbage", ["", "v2", "v2.accounts.x.y.z", "v1.1.n.m",
                                     "v3.accounts.1.n.m", "a.b.c.d.e.f"])
async def test_a_malformed_signature_is_refused(garbage: str) -> None:
    with pytest.raises(InternalCallError):
        await verify(signed(signature=garbage))


@pytest.mark.unit
async def test_a_repeated_identity_header_is_refused() -> None:
    call = signed()
    verifier = CallVerifier(KEY, "accounts", 30, clock=lambda: NOW)
    headers = [(b"x-account-id", b"alice"), (b"x-account-id", b"mallory"),
               (b"x-session-id", b"s1")]
    with pytest.raises(InternalCallError, match="repeated"):
        await verifier.verify("POST", b"/internal/x?a=1", b'{"v": 1}',
                              call["signature"], headers)  # type: ignore[arg-type]


@pytest.mark.unit
def test_a_signer_refuses_a_destination_that_is_not_a_service_name() -> None:
    with pytest.raises(ValueError, match="service name"):
        CallSigner(KEY).sign("GET", "/x", None, {}, service="accounts.x")


# The nonce store every replica of a service shares, in its PostgreSQL schema.


@pytest.fixture
async def schema(pool: asyncpg.Pool) -> AsyncIterator[str]:
    name = unique("nonces")
    await pool.execute(f"CREATE SCHEMA {name}")
    await pool.execute(nonce_ddl(name))
    yield name
    await pool.execute(f"DROP SCHEMA {name} CASCADE")


async def _replica(infra: Infra, schema: str, service: str = "accounts") -> CallVerifier:
    """One replica's verifier (or one process after a restart): a store of its own on the
    shared table."""
    store = PostgresNonces(schema)
    await store.open(infra.pg_dsn())
    return CallVerifier(KEY, service, 30, clock=time.time, nonces=store)


@pytest.mark.integration
async def test_a_call_replayed_to_another_replica_or_after_a_restart_is_refused(
    infra: Infra, schema: str,
) -> None:
    call = signed(now=time.time())
    first, second = await _replica(infra, schema), await _replica(infra, schema)
    await verify(call, first, now=time.time())
    with pytest.raises(InternalCallError) as refused:
        await verify(call, second, now=time.time())
    assert refused.value.code == "signature_replayed"
    restarted = await _replica(infra, schema)  # a new process: nothing kept in memory
    with pytest.raises(InternalCallError, match="replayed"):
        await verify(call, restarted, now=time.time())
    await verify(signed(now=time.time()), second, now=time.time())  # a fresh one passes
    for verifier in (first, second, restarted):
        await verifier.nonces.close()  # type: ignore[attr-defined]


@pytest.mark.unit
async def test_a_store_not_open_is_unavailable_not_open_to_replays() -> None:
    with pytest.raises(NonceStoreUnavailable):
        await PostgresNonces("nowhere").claim("n", int(NOW) + 30, NOW)


@pytest.mark.integration
async def test_expired_nonces_are_deleted_and_live_ones_kept(
    infra: Infra, pool: asyncpg.Pool, schema: str,
) -> None:
    store = PostgresNonces(schema, purge_every=0.0)
    await store.open(infra.pg_dsn())
    assert await store.claim("old", int(NOW) - 10, NOW - 40)
    assert await store.claim("live", int(NOW) + 30, NOW)
    assert not await store.claim("live", int(NOW) + 30, NOW)
    left: set[str] = set()
    for i in range(50):  # the purge runs off the call's path, after a claim
        await store.claim(f"n{i}", int(NOW) + 30, NOW)
        await asyncio.sleep(0.02)
        left = {r["nonce"] for r in await pool.fetch(
            f"SELECT nonce FROM {schema}.internal_nonces")}
        if "old" not in left:
            break
    assert "old" not in left and "live" in left
    await store.close()


@pytest.mark.unit
async def test_memory_nonces_refuse_a_second_claim() -> None:
    store = MemoryNonces()
    assert await store.claim("n", int(NOW) + 30, NOW)
    assert not await store.claim("n", int(NOW) + 30, NOW)
