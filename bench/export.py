"""Access export over HTTP: request -> the whole export document, from every service
(TARGETS: <= 2 s for a member with 10,000 events of history)."""

from __future__ import annotations

import sys
import time

import httpx

from bench.common import median, private_stack, report
from bench.members import BenchMember, prepared, sign_up, vacancy


def export(client: httpx.Client, events: int, employer: BenchMember, vacancy_id: str) -> float:
    m = prepared(client, events, employer, vacancy_id)
    start = time.perf_counter()
    resp = client.post("/v1/privacy-requests", json={"type": "access"}, headers=m.auth)
    resp.raise_for_status()
    rid = resp.json()["request_id"]
    while True:
        got = client.get(f"/v1/privacy-requests/{rid}/export", headers=m.auth)
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
        employer = sign_up(client, "employer")
        vacancy_id = vacancy(client, employer)
        big = [export(client, 10_000, employer, vacancy_id) for _ in range(runs)]
        small = [export(client, 10, employer, vacancy_id) for _ in range(runs)]
    b, s = median(big), median(small)
    report("access export over HTTP, member of every service with 10,000 events", b, "s",
           "<= 2 s", b <= 2)
    report("access export over HTTP, member of every service with 10 events", s, "s",
           "(reference)", True)


if __name__ == "__main__":
    main()
