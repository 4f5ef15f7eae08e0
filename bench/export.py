"""Access export over HTTP: request -> the whole export document, from every service
(TARGETS: <= 2 s for a member with 10,000 events of history)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import median, private_stack, report, store_of
from contracts.accounts import AccountDetailsChanged, SessionStarted
from contracts.envelope import Event
from kernel.eventstore import NewEvent


async def history(account_id: str, events: int) -> None:
    """Append ``events`` events to the member's account: log-ins, and one in ten a change of
    phone number among ten numbers (personal data every export opens and folds)."""
    expires = datetime.now(UTC) + timedelta(days=1)
    batch: list[Event] = []
    for i in range(events):
        if i % 10 == 0:
            batch.append(AccountDetailsChanged(account_id=account_id,
                                               phone=f"+3161234{i % 100 // 10:04d}"))
        else:
            batch.append(SessionStarted(session_id=str(uuid.uuid4()), account_id=account_id,
                                        remember_me=False, expires_at=expires))
    async with store_of("accounts") as (pool, store), pool.acquire() as conn, \
            conn.transaction():
        stream = f"history-{account_id}"
        head = await store.head(conn, stream)
        await store.append(conn, stream, head, [NewEvent(e, account_id) for e in batch])


def export(client: httpx.Client, events: int) -> float:
    terms = client.get("/v1/terms").json()["version"]
    u = uuid.uuid4().hex[:12]
    body = {"email": f"{u}@example.nl", "password": "export-me-please", "name": f"Member {u}",
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
    resp = client.post("/v1/privacy-requests", json={"type": "access"}, headers=auth)
    resp.raise_for_status()
    rid = resp.json()["request_id"]
    while True:
        got = client.get(f"/v1/privacy-requests/{rid}/export", headers=auth)
        if got.status_code == 200:
            took = time.perf_counter() - start
            doc = got.json()
            assert any(c["category"] == "contact" for c in doc["categories"]), doc
            return took
        if time.perf_counter() - start > 60:
            raise SystemExit(f"export not ready after 60 s: {got.status_code} {got.text}")
        time.sleep(0.02)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True) as stack, \
            httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        big = [export(client, 10_000) for _ in range(runs)]
        small = [export(client, 10) for _ in range(runs)]
    b, s = median(big), median(small)
    report("access export over HTTP, member with 10,000 events", b, "s", "<= 2 s", b <= 2)
    report("access export over HTTP, member with 10 events", s, "s", "(reference)", True)


if __name__ == "__main__":
    main()
