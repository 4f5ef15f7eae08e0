"""Access export over HTTP: request -> the whole export document, from every service
(TARGETS: <= 2 s for a member with 10,000 events of history)."""

from __future__ import annotations

import sys

import httpx

from bench.common import median, private_stack, report
from bench.members import BenchMember, prepared, sign_up, timed_request, vacancy


def export(client: httpx.Client, events: int, employer: BenchMember, vacancy_id: str) -> float:
    m = prepared(client, events, employer, vacancy_id)

    def ready(rid: str, _token: str) -> bool:
        got = client.get(f"/v1/privacy-requests/{rid}/export", headers=m.auth)
        if got.status_code != 200:
            return False
        assert any(c["category"] == "contact" for c in got.json()["categories"]), got.text
        return True

    return timed_request(client, m, "access", ready)


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
