"""Messages through the whole path, over the real gateway and services.

Each message is checked by the participants' conversation, counted against its sender's
limit, scanned, sealed under a monthly key (MSG-3) and appended with its verdict event and
projection row in one transaction. Senders here get a high limit so the figure is the
path's, not the limit's. No target in docs/targets.md: the figures are for reference.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

import httpx

from bench.common import private_stack, report

SENDERS = 8
MESSAGES = 100  # per sender
PASSWORD = "bench-password-1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def account(client: httpx.AsyncClient, tag: str, terms: str, kind: str = "member"
                  ) -> tuple[str, dict[str, str]]:
    unique = f"{tag}{time.time_ns()}"
    body = {"kind": kind, "email": f"{unique}@example.nl", "password": PASSWORD,
            "name": f"Bench {tag}", "username": f"b{unique[-20:]}",
            "accept_terms_version": terms}
    resp = await client.post("/v1/accounts", json=body)
    resp.raise_for_status()
    account_id = resp.json()["account_id"]
    resp = await client.post("/v1/sessions", json={
        "email": body["email"], "password": PASSWORD, "remember_me": False})
    resp.raise_for_status()
    return account_id, {"Authorization": f"Bearer {resp.json()['token']}"}


async def retry(call: object, attempts: int = 100) -> httpx.Response:
    """A write that waits for Kafka to tell the messaging service (409/404 until then)."""
    for _ in range(attempts):
        resp: httpx.Response = await call()  # type: ignore[operator]
        if resp.status_code == 201:
            return resp
        await asyncio.sleep(0.1)
    resp.raise_for_status()
    return resp


async def run(gateway: str) -> tuple[list[float], list[float], float]:
    async with httpx.AsyncClient(base_url=gateway, timeout=60,
                                 limits=httpx.Limits(max_connections=SENDERS * 2)) as client:
        terms = (await client.get("/v1/terms")).json()["version"]
        owner_id, owner = await account(client, "owner", terms, "employer")
        resp = await client.post("/v1/listings", headers=owner, json={
            "kind": "vacancy", "title": "Bench vacancy", "description": "Bench",
            "location": {"city": "Utrecht"}})
        resp.raise_for_status()
        listing_id = resp.json()["listing_id"]
        senders = [await account(client, f"s{i}", terms) for i in range(SENDERS)]
        conversations = []
        for _, auth in senders:
            resp = await retry(lambda auth=auth: client.post(
                "/v1/conversations", headers=auth,
                json={"listing_id": listing_id, "recipient_account_id": owner_id}))
            conversations.append((auth, resp.json()["conversation_id"]))
        posts: list[float] = []
        reads: list[float] = []

        async def sender(auth: dict[str, str], cid: str) -> None:
            for i in range(MESSAGES):
                t = time.perf_counter()
                resp = await client.post(f"/v1/conversations/{cid}/messages", headers=auth,
                                         json={"body": f"Goedemiddag, bericht {i} over de "
                                                       "vacature: is die nog open?"})
                posts.append(time.perf_counter() - t)
                resp.raise_for_status()
            for _ in range(20):
                t = time.perf_counter()
                resp = await client.get(f"/v1/conversations/{cid}/messages", headers=auth,
                                        params={"limit": 50})
                reads.append(time.perf_counter() - t)
                resp.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(sender(a, c) for a, c in conversations))
        elapsed = time.perf_counter() - start
    return posts, reads, SENDERS * MESSAGES / elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    os.environ["MESSAGING_MESSAGES_PER_MINUTE"] = "100000"
    with private_stack(services=True) as stack:
        results = [asyncio.run(run(stack.gateway_url)) for _ in range(runs)]
    post_p50 = statistics.median(pct(r[0], 0.5) for r in results) * 1000
    post_p99 = statistics.median(pct(r[0], 0.99) for r in results) * 1000
    read_p50 = statistics.median(pct(r[1], 0.5) for r in results) * 1000
    read_p99 = statistics.median(pct(r[1], 0.99) for r in results) * 1000
    rate = statistics.median(r[2] for r in results)
    report(f"POST a message, {SENDERS} concurrent senders, p50", post_p50, "ms",
           "(reference)", True)
    report(f"POST a message, {SENDERS} concurrent senders, p99", post_p99, "ms",
           "(reference)", True)
    report(f"messages stored, {SENDERS} concurrent senders", rate, "msg/s", "(reference)", True)
    report("GET a page of 50 messages (bodies opened), p50", read_p50, "ms", "(reference)", True)
    report("GET a page of 50 messages (bodies opened), p99", read_p99, "ms", "(reference)", True)


if __name__ == "__main__":
    main()
