"""Erasure over HTTP: request -> completed with every receipt (TARGETS: <= 1 s for a member
with 10,000 events of history, and <= 1.5x the time for a member with 10 events)."""

from __future__ import annotations

import sys

import httpx

from bench.common import median, private_stack, report
from bench.members import BenchMember, prepared, sign_up, timed_request, vacancy


def erase(client: httpx.Client, events: int, employer: BenchMember, vacancy_id: str) -> float:
    m = prepared(client, events, employer, vacancy_id)

    def completed(rid: str, token: str) -> bool:
        state = client.get(f"/v1/privacy-requests/{rid}",
                           headers={"Authorization": f"Bearer {token}"}).json()
        return bool(state["status"] == "completed")

    return timed_request(client, m, "erasure", completed)


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
