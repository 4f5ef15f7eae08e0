"""Recovery after kill -9 under ``make run`` (TARGETS failure table: serving again within 90 s).

Runs the very command ``make run`` executes (``python -m devstack run``) on free ports,
then kills PostgreSQL, the broker and a service with SIGKILL in turn, several times each.
For every kill it measures, from the kill: the first sign-up the platform accepts again,
``/readyz`` 200 after the restart, and a member signed up after the kill becoming known
to the retention service (through Kafka: the whole path works again). Prints the median
and the worst of each beside the 90 s target.
"""

from __future__ import annotations

import sys
import time
import uuid

import httpx

from bench.common import median
from devstack.drill import StackRun

TARGET = 90.0
PARTS = ("postgres", "broker", "accounts")


def _sign_up(client: httpx.Client) -> str | None:
    try:
        terms = client.get("/v1/terms")
        if terms.status_code != 200:
            return None
        u = uuid.uuid4().hex[:12]
        resp = client.post("/v1/accounts", json={
            "email": f"{u}@example.nl", "password": "recover-me-please",
            "name": f"Member {u}", "username": f"u{u}",
            "accept_terms_version": terms.json()["version"]})
    except httpx.HTTPError:
        return None
    return str(resp.json()["account_id"]) if resp.status_code == 201 else None


def drill(run: StackRun, client: httpx.Client, part: str) -> dict[str, float]:
    """Kill ``part``; seconds to the first accepted write, to readiness, to end-to-end."""
    old = run.kill(part)
    killed = time.monotonic()
    account_id = None
    while account_id is None:
        account_id = _sign_up(client)
        if time.monotonic() - killed > 2 * TARGET:
            raise SystemExit(f"{part}: no write accepted for {2 * TARGET:.0f} s")
        if account_id is None:
            time.sleep(0.05)
    write = time.monotonic() - killed
    while run.pids().get(part) in (None, old) or not run.ready():
        if time.monotonic() - killed > 2 * TARGET:
            raise SystemExit(f"{part}: not ready for {2 * TARGET:.0f} s: {run.last_readiness}")
        time.sleep(0.05)
    ready = time.monotonic() - killed
    while not run.retention_knows(account_id):
        if time.monotonic() - killed > 2 * TARGET:
            raise SystemExit(f"{part}: the write never reached retention")
        time.sleep(0.05)
    return {"write": write, "ready": ready, "end_to_end": time.monotonic() - killed}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    run = StackRun()
    try:
        started = run.start()
        print(f"stack started in {started:.1f} s; {rounds} kills of each part", flush=True)
        results: dict[str, list[dict[str, float]]] = {part: [] for part in PARTS}
        with httpx.Client(base_url=run.gateway_url, timeout=10) as client:
            for _ in range(rounds):
                for part in PARTS:
                    results[part].append(drill(run, client, part))
                    time.sleep(3)  # settle: the next kill starts from a healthy stack
        for part in PARTS:
            for key, label in (("write", "first write accepted"), ("ready", "/readyz 200"),
                               ("end_to_end", "write visible through Kafka")):
                values = [r[key] for r in results[part]]
                worst = max(values)
                print(f"kill -9 {part:<9} {label:<30} median {median(values):6.2f} s"
                      f"  max {worst:6.2f} s   target <= {TARGET:.0f} s "
                      f"{'MET' if worst <= TARGET else 'MISSED'}", flush=True)
    finally:
        run.stop()


if __name__ == "__main__":
    main()
