"""Chaos soak: a mixed workload at a fixed rate while services, the broker and PostgreSQL die.

docs/targets.md (failure): "a mixed workload for minutes while services, the broker and
PostgreSQL are killed in turn: no acknowledged write lost or applied twice; every erasure
completed". Runs the very command ``make run`` executes on free loopback ports, then for
``--seconds`` sends requests through the gateway at ``--rate`` a second — sign-ups,
log-ins, profile changes, consent changes, listings, conversations and messages, and
erasures — while a fault injector kills (SIGKILL) a random service, the
broker and PostgreSQL in turn, each after the platform recovered from the previous one.

At the end it checks, from the clients' own record of what was acknowledged (2xx):
- every acknowledged write is in the event stores once, and visible in the projections
  (log-in and ``/v1/me``, the consents, listing search through Kafka);
- every acknowledged erasure completed with every receipt;
- no plaintext of an erased member in PostgreSQL, Kafka or the run's output;
- consumer lag and outbox backlog back to zero.

Prints requests sent and acknowledged, faults injected, recovery time per fault
(p50 / max, kill to ``/readyz`` 200) and the losses (target: 0).
``python -m bench.soak [--seconds 180] [--rate 20] [--fault-every 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench.common import median
from devstack.drill import StackRun
from devstack.dumps import dump_kafka, dump_postgres, found_in

SERVICES = ("accounts", "consent", "listings", "messaging", "retention")
IN_FLIGHT = 32


def _transient(resp: httpx.Response) -> bool:
    """A rate limit or an outage: the answer says nothing about the data yet."""
    return resp.status_code == 429 or resp.status_code >= 500


@dataclass
class Member:
    """What the client knows of one member, from its acknowledged writes."""

    account_id: str
    email: str
    password: str
    name: str
    username: str
    phone: str
    token: str = ""
    names: set[str] = field(default_factory=set)
    """Names the account may hold: the last acknowledged one, and any never answered (a
    request the client gave up on may still be carried out later, after a newer one)."""
    unanswered_names: set[str] = field(default_factory=set)
    consents: dict[str, set[bool]] = field(default_factory=dict)
    """Per purpose the states it may be in: the last acknowledged, and any never answered."""
    unanswered_consents: dict[str, Counter[bool]] = field(default_factory=dict)
    """Per purpose the values of the changes never answered, counted (two attempts of one
    value, one answered, leave one that may still land)."""
    consent_entries: list[tuple[str, str]] = field(default_factory=list)
    consent_attempts: list[tuple[str, bool, str, str]] = field(default_factory=list)
    """(purpose, value, sent at, outcome) of every consent change, for a loss's report."""
    """(purpose, ledger entry id) of every acknowledged consent change: each must be kept."""
    busy: bool = False
    erasure: tuple[str, str] | None = None

    def values(self) -> list[str]:
        return [self.email, self.name, self.username, self.phone, *self.names]


@dataclass
class Report:
    """The soak's figures and findings."""

    sent: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    faults: list[tuple[str, float]] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    shed: int = 0

    def lose(self, what: str) -> None:
        self.losses.append(what)


class Soak:
    """One soak: workload, fault injector, final checks."""

    def __init__(self, run: StackRun, seconds: float, rate: float, fault_every: float,
                 seed: int = 7, cycle: tuple[str, ...] = ("service", "broker", "postgres"),
                 ) -> None:
        self.run = run
        self.cycle = cycle
        """The faults in turn; "service" is a random one of :data:`SERVICES`."""
        self.seconds = seconds
        self.rate = rate
        self.fault_every = fault_every
        self.rng = random.Random(seed)  # noqa: S311 - a workload mix, not a secret
        self.members: list[Member] = []
        self.listings: dict[str, tuple[Member, str]] = {}
        self.purposes: list[str] = []
        self.messaging = False
        self.conversations: dict[tuple[str, str], str] = {}
        self.messages: list[tuple[Member, str, str]] = []
        self.report = Report()
        self.stop = asyncio.Event()
        self.client = httpx.AsyncClient(base_url=run.gateway_url, timeout=10)

    # -- workload ---------------------------------------------------------------------
    async def _sign_up(self) -> None:
        u = uuid.uuid4().hex[:12]
        m = Member("", f"soak{u}@example.nl", f"pw-{u}-Secret!", f"Soak Name {u}", f"soak{u}",
                   "+316" + str(int(u[-7:], 16) % 10**8).zfill(8))
        terms = await self.client.get("/v1/terms")
        if terms.status_code != 200:
            return
        resp = await self.client.post("/v1/accounts", json={
            "email": m.email, "password": m.password, "name": m.name,
            "username": m.username, "phone": m.phone,
            "accept_terms_version": terms.json()["version"]})
        if resp.status_code == 201:
            m.account_id = resp.json()["account_id"]
            m.names = {m.name}
            self.members.append(m)
            self.report.acked["sign-up"] += 1

    async def _log_in(self, m: Member, patient: bool = False) -> bool:
        """Log in; ``patient`` waits out rate limits (429) and outages (5xx), up to 60 s."""
        deadline = time.monotonic() + (90 if patient else 0)
        while True:
            try:
                resp = await self.client.post("/v1/sessions", json={
                    "email": m.email, "password": m.password, "remember_me": False})
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
                continue
            if resp.status_code == 201:
                m.token = resp.json()["token"]
                self.report.acked["log-in"] += 1
                return True
            if not _transient(resp) or time.monotonic() > deadline:
                return False
            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))

    def _auth(self, m: Member) -> dict[str, str]:
        return {"Authorization": f"Bearer {m.token}"}

    async def _step_up(self, m: Member) -> bool:
        if not m.token and not await self._log_in(m):
            return False
        resp = await self.client.post("/v1/sessions/current/reauth",
                                      json={"password": m.password}, headers=self._auth(m))
        if resp.status_code == 401:
            m.token = ""
        return resp.status_code == 204

    async def _rename(self, m: Member) -> None:
        if not await self._step_up(m):
            return
        new = f"Soak Renamed {uuid.uuid4().hex[:10]}"
        m.names.add(new)  # attempted: it may be applied even if no answer comes back
        m.unanswered_names.add(new)
        resp = await self.client.patch("/v1/me", json={"name": new}, headers=self._auth(m))
        if resp.status_code < 500:
            m.unanswered_names.discard(new)  # answered: applied or refused, not pending
        if resp.status_code == 200:
            m.names = {new} | m.unanswered_names
            self.report.acked["profile change"] += 1

    async def _consent(self, m: Member) -> None:
        if not self.purposes:
            return
        if not m.token and not await self._log_in(m):
            return
        purpose = self.rng.choice(self.purposes)
        granted = self.rng.random() < 0.5
        m.consents.setdefault(purpose, {False}).add(granted)  # every purpose starts not granted
        pending = m.unanswered_consents.setdefault(purpose, Counter())
        pending[granted] += 1
        attempt = (purpose, granted, datetime.now(UTC).isoformat(timespec="milliseconds"))
        m.consent_attempts.append((*attempt, "no answer"))
        resp = await self.client.put(f"/v1/me/consents/{purpose}", json={"granted": granted},
                                     headers=self._auth(m))
        m.consent_attempts[m.consent_attempts.index((*attempt, "no answer"))] = (
            *attempt, str(resp.status_code))
        if resp.status_code < 500:
            pending[granted] -= 1
        if resp.status_code == 200:  # the answer says the state (a grant may be declined)
            state = resp.json()
            if state.get("purpose") != purpose:
                self.report.lose(f"member {m.account_id}: a consent change was answered "
                                 f"for another purpose")
                return
            m.consents[purpose] = {bool(state.get("granted"))} | {
                value for value, n in pending.items() if n > 0}
            if state.get("entries"):
                m.consent_entries.append((purpose, state["entries"][-1]))
            self.report.acked["consent change"] += 1

    async def _listing(self, m: Member) -> None:
        if not m.token and not await self._log_in(m):
            return
        word = f"soakword{uuid.uuid4().hex[:10]}"
        resp = await self.client.post("/v1/listings", headers=self._auth(m), json={
            "kind": "profile", "title": f"Hovenier {word}",
            "description": f"Ervaren hovenier, {m.name}", "location": {"city": "Utrecht"}})
        if resp.status_code == 201:
            self.listings[resp.json()["listing_id"]] = (m, word)
            self.report.acked["listing"] += 1

    async def _message(self, m: Member) -> None:
        """A message about another member's listing (MSG-1), its conversation made first."""
        others = [(lid, author) for lid, (author, _) in self.listings.items()
                  if author is not m and author.erasure is None]
        if not others or not self.messaging:
            return
        if not m.token and not await self._log_in(m):
            return
        listing_id, author = self.rng.choice(others)
        conv = self.conversations.get((m.account_id, listing_id))
        if conv is None:
            resp = await self.client.post("/v1/conversations", headers=self._auth(m), json={
                "listing_id": listing_id, "recipient_account_id": author.account_id})
            if resp.status_code != 201:
                return
            conv = self.conversations[(m.account_id, listing_id)] = resp.json()["conversation_id"]
            self.report.acked["conversation"] += 1
        resp = await self.client.post(
            f"/v1/conversations/{conv}/messages", headers=self._auth(m),
            json={"body": f"Hallo, is de plek nog vrij? Groet {uuid.uuid4().hex[:6]}"})
        if resp.status_code == 201:
            self.messages.append((m, conv, resp.json()["message_id"]))
            self.report.acked["message"] += 1

    async def _erase(self, m: Member) -> None:
        if not await self._step_up(m):
            return
        resp = await self.client.post("/v1/privacy-requests", json={"type": "erasure"},
                                      headers=self._auth(m))
        if resp.status_code == 202:
            m.erasure = (resp.json()["request_id"], resp.json()["status_token"])
            self.report.acked["erasure"] += 1

    async def _one(self) -> None:
        live = [m for m in self.members if not m.busy and m.erasure is None]
        kinds = ["sign-up"] * 3
        if live:
            kinds += ["log-in"] * 2 + ["profile change"] * 2 + ["consent change"] * 2
            kinds += ["listing"] * 2 + ["erasure"] * (1 if len(live) > 5 else 0)
            kinds += ["message"] * (3 if self.messaging else 0)
        kind = self.rng.choice(kinds)
        self.report.sent[kind] += 1
        m = None if kind == "sign-up" else self.rng.choice(live)
        if m is not None:
            m.busy = True
        try:
            if m is None:
                await self._sign_up()
            elif kind == "log-in":
                await self._log_in(m)
            elif kind == "profile change":
                await self._rename(m)
            elif kind == "consent change":
                await self._consent(m)
            elif kind == "listing":
                await self._listing(m)
            elif kind == "message":
                await self._message(m)
            else:
                await self._erase(m)
        except (httpx.HTTPError, ValueError, KeyError):
            pass  # not acknowledged: nothing is expected of it
        finally:
            if m is not None:
                m.busy = False

    async def workload(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            if len(tasks) < IN_FLIGHT:
                task = asyncio.create_task(self._one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                self.report.shed += 1
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    # -- faults -----------------------------------------------------------------------
    async def faults(self) -> None:
        turn = 0
        await asyncio.sleep(self.fault_every)
        while not self.stop.is_set():
            part = self.cycle[turn % len(self.cycle)]
            if part == "service":
                part = self.rng.choice(SERVICES)
            turn += 1
            old = self.run.pids().get(part)
            self.run.kill(part)
            killed = time.monotonic()
            while (self.run.pids().get(part) in (None, old)
                   or not await asyncio.to_thread(self.run.ready)):
                if time.monotonic() - killed > 180:
                    self.report.lose(f"{part}: not serving again within 180 s; /readyz: "
                                     f"{self.run.last_readiness[:600]}")
                    return
                await asyncio.sleep(0.1)
            self.report.faults.append((part, time.monotonic() - killed))
            try:
                await asyncio.wait_for(self.stop.wait(), self.fault_every)
            except TimeoutError:
                pass

    # -- checks -----------------------------------------------------------------------
    async def _eventually(self, check: Any, within: float) -> bool:
        deadline = time.monotonic() + within
        while True:
            if await check():
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)

    async def verify(self) -> None:
        r = self.report
        while not await asyncio.to_thread(self.run.ready):
            await asyncio.sleep(0.5)
        self.client.timeout = httpx.Timeout(30)  # checks wait out a slow moment, not faults
        for m in self.members:
            check = self._check_erased if m.erasure is not None else self._check_member
            for attempt in range(3):
                try:
                    await check(m)
                    break
                except httpx.HTTPError:
                    if attempt == 2:
                        r.lose(f"member {m.account_id}: the platform did not answer the checks")
                    await asyncio.sleep(2)
        for listing_id, (author, word) in self.listings.items():
            if author.erasure is not None:
                continue

            async def visible(word: str = word, listing_id: str = listing_id) -> bool:
                items = (await self.client.get("/v1/listings", params={"q": word})).json()
                return listing_id in str(items.get("items", []))

            if not await self._eventually(visible, 60):
                r.lose(f"listing {listing_id} acknowledged but not found by search")
        for sender, conv, message_id in self.messages:
            if sender.erasure is not None:
                continue

            async def listed(sender: Member = sender, conv: str = conv,
                             message_id: str = message_id) -> bool:
                if not sender.token and not await self._log_in(sender, patient=True):
                    return False
                got = await self.client.get(f"/v1/conversations/{conv}/messages",
                                            headers=self._auth(sender), params={"limit": 100})
                return got.status_code == 200 and message_id in got.text

            if not await self._eventually(listed, 30):
                r.lose(f"message {message_id} acknowledged but not in its conversation")
        await self._check_once()
        await self._check_plaintext()
        if not await self._eventually(self._drained, 90):
            r.lose("consumer lag or outbox backlog did not return to zero")

    async def _check_member(self, m: Member) -> None:
        if not await self._log_in(m, patient=True):
            self.report.lose(f"member {m.account_id}: acknowledged sign-up cannot log in")
            return
        me: dict[str, Any] = {}

        async def read_me() -> bool:  # a 503 while a part restarts is not a loss
            nonlocal me
            got = await self.client.get("/v1/me", headers=self._auth(m))
            me = got.json() if got.status_code == 200 else {}
            return got.status_code == 200

        if not await self._eventually(read_me, 30):
            self.report.lose(f"member {m.account_id}: acknowledged account cannot be read")
            return
        if me.get("name") not in m.names:
            self.report.lose(f"member {m.account_id}: acknowledged profile change lost")
        if not m.consents:
            return

        async def consents_match() -> bool:
            got = (await self.client.get("/v1/me/consents", headers=self._auth(m))).json()
            states = {p["purpose"]: p["granted"] for p in got.get("purposes", [])}
            kept = {(p["purpose"], e) for p in got.get("purposes", []) for e in p["entries"]}
            return (all(states.get(p) in allowed for p, allowed in m.consents.items())
                    and all(entry in kept for entry in m.consent_entries))

        if not await self._eventually(consents_match, 30):
            got = (await self.client.get("/v1/me/consents", headers=self._auth(m))).json()
            states = {p["purpose"]: p["granted"] for p in got.get("purposes", [])}
            wrong: dict[str, object] = {
                p: (sorted(allowed), states.get(p)) for p, allowed in m.consents.items()
                if states.get(p) not in allowed}
            kept = {(p["purpose"], e) for p in got.get("purposes", []) for e in p["entries"]}
            wrong |= {p: ("entry", e) for p, e in m.consent_entries if (p, e) not in kept}
            now = datetime.now(UTC).isoformat()
            ledger = (await self.client.get("/v1/me/consents", params={"as_of": now},
                                            headers=self._auth(m))).json().get("ledger", [])
            entries = [(e.get("at"), e.get("purpose"), e.get("action"), e.get("source"))
                       for e in ledger if e.get("purpose") in wrong]
            attempts = [a for a in m.consent_attempts if a[0] in wrong]
            self.report.lose(f"member {m.account_id}: acknowledged consent change lost "
                             f"(purpose: (acknowledged, now)): {wrong}; ledger: {entries}; "
                             f"attempts: {attempts}")

    async def _check_erased(self, m: Member) -> None:
        assert m.erasure is not None
        request_id, token = m.erasure

        async def completed() -> bool:
            got = await self.client.get(f"/v1/privacy-requests/{request_id}",
                                        headers={"Authorization": f"Bearer {token}"})
            return got.status_code == 200 and got.json()["status"] == "completed"

        if not await self._eventually(completed, 120):
            self.report.lose(f"erasure {request_id} acknowledged but never completed")
        deadline = time.monotonic() + 60
        while True:
            login = await self.client.post("/v1/sessions", json={
                "email": m.email, "password": m.password, "remember_me": False})
            if not _transient(login) or time.monotonic() > deadline:
                break
            await asyncio.sleep(float(login.headers.get("Retry-After", "1")))
        if login.status_code != 401:
            self.report.lose(f"erased member {m.account_id} can still log in")

    async def _check_once(self) -> None:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.run.pg_port}/"
                                     "marketplace")
        try:
            accounts = {r["stream_id"]: r["n"] for r in await conn.fetch(
                "SELECT stream_id, count(*) AS n FROM accounts.events "
                "WHERE event_type = 'accounts.AccountRegistered' GROUP BY stream_id")}
            listings = {r["stream_id"]: r["n"] for r in await conn.fetch(
                "SELECT stream_id, count(*) AS n FROM listings.events "
                "WHERE event_type = 'listings.ListingCreated' GROUP BY stream_id")}
        finally:
            await conn.close()
        for m in self.members:
            n = accounts.get(f"account-{m.account_id}", 0)
            if n != 1:
                self.report.lose(f"member {m.account_id}: {n} registrations in the store")
        for listing_id in self.listings:
            n = listings.get(f"listing-{listing_id}", 0)
            if n != 1:
                self.report.lose(f"listing {listing_id}: {n} creations in the store")

    async def _check_plaintext(self) -> None:
        erased = [m for m in self.members if m.erasure is not None]
        if not erased:
            return
        blobs = [await dump_postgres(self.run.dsn), await dump_kafka(self.run.kafka_bootstrap),
                 self.run.output.read_bytes()]
        for m in erased:
            if any(found_in(blob, m.values()) for blob in blobs):
                self.report.lose(f"erased member {m.account_id}: a value in plaintext")

    async def _drained(self) -> bool:
        total = 0.0
        for name in SERVICES:
            try:
                text = (await self.client.get(f"{self.run.service_url(name)}/metrics")).text
            except httpx.HTTPError:
                return False
            for line in text.splitlines():
                if line.startswith(("consumer_lag{", "outbox_backlog{")):
                    total += float(line.rsplit(" ", 1)[1])
        return total == 0

    async def main(self) -> Report:
        paths = (await self.client.get("/openapi.json")).json().get("paths", {})
        self.messaging = "/v1/conversations/{conversation_id}/messages" in paths
        await self._sign_up()
        if self.members:
            m = self.members[0]
            if await self._log_in(m):
                got = (await self.client.get("/v1/me/consents", headers=self._auth(m))).json()
                self.purposes = [p["purpose"] for p in got.get("purposes", [])
                                 if p.get("legal_basis") == "consent"]
        work = asyncio.create_task(self.workload())
        faults = asyncio.create_task(self.faults())
        await asyncio.sleep(self.seconds)
        self.stop.set()
        await work
        await faults
        await self.verify()
        await self.client.aclose()
        return self.report


def soak(seconds: float, rate: float, fault_every: float, keep: bool = False) -> Report:
    """Run one soak on a private ``make run`` and return its report.

    Args:
        keep: Leave the stack running afterwards, for a look at what went wrong.
    """
    # The soak's simulated members all come from 127.0.0.1: the per-address sign-up limit
    # (ACCOUNTS_SIGNUP_MAX_PER_ADDRESS, 20 an hour by default) would shed most of them.
    os.environ.setdefault("ACCOUNTS_SIGNUP_MAX_PER_ADDRESS", "100000")
    run = StackRun()
    try:
        run.start()
        return asyncio.run(Soak(run, seconds, rate, fault_every).main())
    finally:
        if keep:
            print(f"stack kept running: data {run.data_dir}, gateway {run.gateway_url}, "
                  f"PostgreSQL port {run.pg_port}, broker port {run.kafka_port}, "
                  f"run pid {run.proc.pid if run.proc else None}")
        else:
            run.stop()


def print_report(r: Report, seconds: float, rate: float) -> None:
    times = sorted(t for _, t in r.faults)
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.acked.items()))
    print(f"soak: {seconds:.0f} s at {rate:g} requests/s through the gateway")
    print(f"  requests sent: {sum(r.sent.values())} (shed at the client: {r.shed}); "
          f"acknowledged: {sum(r.acked.values())} ({kinds})")
    print(f"  faults injected: {len(r.faults)} "
          f"({', '.join(sorted({re.sub(r'[0-9]', '', p) for p, _ in r.faults}))})")
    if times:
        print(f"  recovery per fault, kill to /readyz 200: p50 {median(times):.1f} s, "
              f"max {times[-1]:.1f} s   target: serving again within 90 s")
    print(f"  losses: {len(r.losses)}   target: 0")
    for loss in r.losses[:20]:
        print(f"    - {loss}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=5,
                        help="requests a second (default 5: most routes hash a password "
                             "with argon2id, which this rate keeps within two cores)")
    parser.add_argument("--fault-every", type=float, default=20)
    parser.add_argument("--keep", action="store_true", help="leave the stack running after")
    args = parser.parse_args()
    report = soak(args.seconds, args.rate, args.fault_every, args.keep)
    print_report(report, args.seconds, args.rate)
    return 1 if report.losses else 0


if __name__ == "__main__":
    sys.exit(main())
