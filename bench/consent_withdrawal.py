"""Consent withdrawal propagation (TARGETS: p99 <= 1 s): from ``PUT /v1/me/consents/{purpose}
{granted: false}`` answering to every running service's contact guard refusing that member
and purpose, each answering from its own projection (CNS-2, CNS-7).

``python -m bench.consent_withdrawal [withdrawals]`` (default 200) on a private stack with
every service running; before each withdrawal the grant is awaited in every guard.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
import uuid

import asyncpg
import httpx

from bench.common import median, private_stack, report
from contracts.topics import SERVICES
from kernel.eventstore import EventStore
from kernel.guard import ContactGuard, decide
from kernel.keystore import InMemoryKeyStore
from kernel.settings import PostgresSettings

PURPOSE, CHANNEL = "marketing_email", "email"


async def _all_guards(conn: asyncpg.Connection, guards: list[ContactGuard], member: str,
                      allowed: bool) -> None:
    """Return once every guard gives the wanted answer (polled every 2 ms)."""
    while True:
        verdicts = [decide(await g.standing(conn, member, PURPOSE, CHANNEL), CHANNEL)
                    for g in guards]
        if all(v.allowed is allowed for v in verdicts):
            return
        await asyncio.sleep(0.002)


async def _member(client: httpx.AsyncClient) -> dict[str, str]:
    terms = (await client.get("/v1/terms")).json()["version"]
    u = uuid.uuid4().hex[:12]
    body = {"email": f"{u}@example.nl", "password": "withdraw-me-please",
            "name": f"Member {u}", "username": f"u{u}", "accept_terms_version": terms}
    (await client.post("/v1/accounts", json=body)).raise_for_status()
    login = {"email": body["email"], "password": body["password"], "remember_me": True}
    token = (await client.post("/v1/sessions", json=login)).json()["token"]
    me = (await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    return {"Authorization": f"Bearer {token}", "account_id": me["account_id"]}


async def run(gateway: str, withdrawals: int) -> list[float]:
    """Seconds from each withdrawal's answer to the last service's guard refusing."""
    conn = await asyncpg.connect(PostgresSettings().dsn())
    guards = [ContactGuard(conn, EventStore(s, InMemoryKeyStore()))
              for s in SERVICES]
    latencies = []
    try:
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
            members = [await _member(client) for _ in range(4)]
            for i in range(withdrawals):
                m = members[i % len(members)]
                auth = {"Authorization": m["Authorization"]}
                url = f"/v1/me/consents/{PURPOSE}"
                (await client.put(url, json={"granted": True}, headers=auth)).raise_for_status()
                await asyncio.wait_for(_all_guards(conn, guards, m["account_id"], True), 30)
                (await client.put(url, json={"granted": False}, headers=auth)).raise_for_status()
                answered = time.perf_counter()
                await asyncio.wait_for(_all_guards(conn, guards, m["account_id"], False), 30)
                latencies.append(time.perf_counter() - answered)
    finally:
        await conn.close()
    return latencies


def main() -> None:
    withdrawals = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with private_stack(services=True) as stack:
        lat = sorted(asyncio.run(run(stack.gateway_url, withdrawals)))
    p99 = lat[min(len(lat) - 1, max(0, math.ceil(0.99 * len(lat)) - 1))]
    report(f"withdrawal -> all {len(SERVICES)} guards refuse, p50 ({len(lat)} runs)",
           median(lat) * 1000, "ms", "(reference)", True)
    report(f"withdrawal -> all {len(SERVICES)} guards refuse, p99 ({len(lat)} runs)",
           p99 * 1000, "ms", "<= 1000 ms", p99 <= 1.0)
    report("withdrawal -> all guards refuse, max", lat[-1] * 1000, "ms",
           "(reference)", True)


if __name__ == "__main__":
    main()
