"""Erasure over HTTP: request -> completed with every receipt (TARGETS: <= 1 s for a member
with 10,000 events of history, and <= 1.5x the time for a member with 10 events)."""

from __future__ import annotations

import sys
import time

import httpx

from bench.common import median, private_stack, report
from bench.members import BenchMember, prepared, sign_up, vacancy


def erase(client: httpx.Client, events: int, employer: BenchMember, vacancy_id: str) -> float:
    m = prepared(client, events, employer, vacancy_id)
    start = time.perf_counter()
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=m.auth)
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
        employer = sign_up(client, "employer")
        vacancy_id = vacancy(client, employer)
        big = [erase(client, 10_000, employer, vacancy_id) for _ in range(runs)]
        small = [erase(client, 10, employer, vacancy_id) for _ in range(runs)]
    b, s = median(big), median(small)
    report("erasure over HTTP, member of every service with 10,000 events", b, "s", "<= 1 s",
           b <= 1)
    report("erasure over HTTP, member of every service with 10 events", s, "s", "(reference)",
           True)
    report("ratio 10,000 / 10 events", b / s, "x", "<= 1.5x", b / s <= 1.5)


if __name__ == "__main__":
    main()
