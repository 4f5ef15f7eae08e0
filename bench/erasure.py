"""Erasure over HTTP: request -> completed with every receipt (TARGETS: <= 1 s for a member
with 10,000 events of history, and <= 1.5x the time for a member with 10 events)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import median, private_stack, report, store_of
from contracts.accounts import SessionStarted
from kernel.eventstore import NewEvent


async def history(account_id: str, events: int) -> None:
    """Append ``events`` more events to the member's account stream (as log-ins would)."""
    expires = datetime.now(UTC) + timedelta(days=1)
    async with store_of("accounts") as (pool, store), pool.acquire() as conn, \
            conn.transaction():
        stream = f"history-{account_id}"
        head = await store.head(conn, stream)
        batch = [NewEvent(SessionStarted(session_id=str(uuid.uuid4()), account_id=account_id,
                                         remember_me=False, expires_at=expires), account_id)
                 for _ in range(events)]
        await store.append(conn, stream, head, batch)


def erase(client: httpx.Client, events: int) -> float:
    terms = client.get("/v1/terms").json()["version"]
    u = uuid.uuid4().hex[:12]
    body = {"email": f"{u}@example.nl", "password": "erase-me-please", "name": f"Member {u}",
            "username": f"u{u}", "accept_terms_version": terms}
    account_id = client.post("/v1/accounts", json=body).json()["account_id"]
    login = {"email": body["email"], "password": body["password"], "remember_me": False}
    token = client.post("/v1/sessions", json=login).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    if events > 1:
        asyncio.run(history(account_id, events - 1))
    time.sleep(2)  # let the history reach every consumer first
    client.post("/v1/sessions/current/reauth", json={"password": body["password"]}, headers=auth)
    start = time.perf_counter()
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=auth)
    resp.raise_for_status()
    rid, status_token = resp.json()["request_id"], resp.json()["status_token"]
    while True:
        state = client.get(f"/v1/privacy-requests/{rid}",
                           headers={"Authorization": f"Bearer {status_token}"}).json()
        if state["status"] == "completed":
            return time.perf_counter() - start
        if time.perf_counter() - start > 60:
            raise SystemExit(f"erasure not completed after 60 s: {state}")
        time.sleep(0.02)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True) as stack, \
            httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        big = [erase(client, 10_000) for _ in range(runs)]
        small = [erase(client, 10) for _ in range(runs)]
    b, s = median(big), median(small)
    report("erasure over HTTP, member with 10,000 events", b, "s", "<= 1 s", b <= 1)
    report("erasure over HTTP, member with 10 events", s, "s", "(reference)", True)
    report("ratio 10,000 / 10 events", b / s, "x", "<= 1.5x", b / s <= 1.5)


if __name__ == "__main__":
    main()
