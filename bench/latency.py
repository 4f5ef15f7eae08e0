"""Latency of log-in and of ``GET /v1/me`` under a small load, over the real gateway.

docs/targets.md: ``GET /v1/me`` with 8 concurrent clients, p99 <= 10 ms. Log-in is bounded by
argon2id on purpose (~190 ms); its figure is reported for reference.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import aiohttp
import httpx

from bench.common import private_stack, report

CLIENTS = 8
ME_REQUESTS = 400  # per client
LOGINS = 10  # per client


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def member(client: httpx.AsyncClient, i: int, terms: str) -> dict[str, str]:
    body = {"email": f"bench{i}-{time.time_ns()}@example.nl", "password": "bench-password-1",
            "name": f"Bench Member {i}", "username": f"bench{i}x{time.time_ns() % 10**8}",
            "accept_terms_version": terms}
    resp = await client.post("/v1/accounts", json=body)
    resp.raise_for_status()
    return {"email": body["email"], "password": body["password"]}


async def run(gateway: str) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient(base_url=gateway, timeout=30,
                                 limits=httpx.Limits(max_connections=CLIENTS * 2)) as client:
        terms = (await client.get("/v1/terms")).json()["version"]
        creds = [await member(client, i, terms) for i in range(CLIENTS)]
        logins: list[float] = []
        tokens: list[str] = []

        async def login_loop(c: dict[str, str]) -> None:
            for n in range(LOGINS):
                t = time.perf_counter()
                resp = await client.post("/v1/sessions", json={**c, "remember_me": False})
                logins.append(time.perf_counter() - t)
                resp.raise_for_status()
                if n == 0:
                    tokens.append(resp.json()["token"])

        await asyncio.gather(*(login_loop(c) for c in creds))
    me: list[float] = []
    async with aiohttp.ClientSession(base_url=gateway) as session:

        async def me_loop(token: str, count: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(count):
                t = time.perf_counter()
                async with session.get("/v1/me", headers=headers) as resp:
                    await resp.read()
                    if count > 1:
                        me.append(time.perf_counter() - t)
                    resp.raise_for_status()

        await asyncio.gather(*(me_loop(t, 1) for t in tokens))  # warm-up
        await asyncio.gather(*(me_loop(t, ME_REQUESTS) for t in tokens))
    return logins, me


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with private_stack(services=True) as stack:
        results = [asyncio.run(run(stack.gateway_url)) for _ in range(runs)]
    me_p50 = statistics.median(pct(r[1], 0.5) for r in results) * 1000
    me_p99 = statistics.median(pct(r[1], 0.99) for r in results) * 1000
    li_p50 = statistics.median(pct(r[0], 0.5) for r in results) * 1000
    li_p99 = statistics.median(pct(r[0], 0.99) for r in results) * 1000
    report(f"GET /v1/me, {CLIENTS} concurrent clients, p50", me_p50, "ms", "(reference)", True)
    report(f"GET /v1/me, {CLIENTS} concurrent clients, p99", me_p99, "ms", "<= 10 ms",
           me_p99 <= 10)
    report(f"POST /v1/sessions (log-in), {CLIENTS} concurrent, p50", li_p50, "ms",
           "(argon2id-bound)", True)
    report(f"POST /v1/sessions (log-in), {CLIENTS} concurrent, p99", li_p99, "ms",
           "(argon2id-bound)", True)


if __name__ == "__main__":
    main()
