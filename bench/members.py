"""The member the privacy benchmarks measure: one who used every service, with a long history.

Issue 15 measures erasure and access export for "a member who used every service (account,
consents, listings, an application, messages), with 10,000 events of history": the member
signs up, grants a consent, posts a listing, applies to an employer's vacancy and writes to
the employer about it; the rest of the history is appended to the account's event store
directly (log-ins, and one in ten a change of phone number), as years of use would leave it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import store_of
from contracts.accounts import AccountDetailsChanged, SessionStarted
from contracts.envelope import Event
from kernel.eventstore import NewEvent


@dataclass(frozen=True)
class BenchMember:
    """A signed-up member with a live session."""

    account_id: str
    password: str
    auth: dict[str, str]


def sign_up(client: httpx.Client, kind: str = "member") -> BenchMember:
    """A new account of ``kind`` and a session for it."""
    terms = client.get("/v1/terms").json()["version"]
    u = uuid.uuid4().hex[:12]
    body = {"kind": kind, "email": f"{u}@example.nl", "password": f"bench-{u}-Secret!",
            "name": f"Member {u}", "username": f"u{u}", "phone": "+31612345678",
            "accept_terms_version": terms}
    resp = client.post("/v1/accounts", json=body)
    resp.raise_for_status()
    login = {"email": body["email"], "password": body["password"], "remember_me": False}
    token = client.post("/v1/sessions", json=login).json()["token"]
    return BenchMember(resp.json()["account_id"], body["password"],
                       {"Authorization": f"Bearer {token}"})


def vacancy(client: httpx.Client, employer: BenchMember) -> str:
    """A published vacancy of ``employer``; its listing id."""
    resp = client.post("/v1/listings", headers=employer.auth, json={
        "kind": "vacancy", "title": "Hovenier gezocht", "description": "Tuinonderhoud, 32 uur",
        "location": {"city": "Utrecht"}})
    resp.raise_for_status()
    listing_id: str = resp.json()["listing_id"]
    return listing_id


def use_every_service(client: httpx.Client, m: BenchMember, employer: BenchMember,
                      vacancy_id: str) -> None:
    """A consent, a listing, an application and a message of ``m`` (each answered 2xx)."""
    purposes = client.get("/v1/me/consents", headers=m.auth).json()["purposes"]
    purpose = next(p["purpose"] for p in purposes if p["legal_basis"] == "consent")
    steps = [
        client.put(f"/v1/me/consents/{purpose}", headers=m.auth, json={"granted": True}),
        client.post("/v1/listings", headers=m.auth, json={
            "kind": "profile", "title": "Ervaren hovenier", "description": "Tien jaar ervaring",
            "location": {"city": "Utrecht"}}),
        client.post(f"/v1/listings/{vacancy_id}/applications", headers=m.auth,
                    json={"message": "Graag kom ik langs", "share": ["name", "email"]}),
    ]
    conv = client.post("/v1/conversations", headers=m.auth, json={
        "listing_id": vacancy_id, "recipient_account_id": employer.account_id})
    steps.append(conv)
    conv.raise_for_status()
    steps.append(client.post(f"/v1/conversations/{conv.json()['conversation_id']}/messages",
                             headers=m.auth, json={"body": "Is de vacature nog open?"}))
    for resp in steps:
        resp.raise_for_status()


async def history(account_id: str, events: int) -> None:
    """Append ``events`` events to the member's account store: log-ins, and one in ten a
    change of phone number among ten numbers (personal data an export opens and folds)."""
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


def prepared(client: httpx.Client, events: int, employer: BenchMember,
             vacancy_id: str) -> BenchMember:
    """A member who used every service, with ``events`` events of history in all, stepped up
    for a privacy request once the history has reached every consumer."""
    m = sign_up(client)
    use_every_service(client, m, employer, vacancy_id)
    if events > 10:
        asyncio.run(history(m.account_id, events - 10))
    time.sleep(2)  # let the history reach every consumer first
    client.post("/v1/sessions/current/reauth", json={"password": m.password},
                headers=m.auth).raise_for_status()
    return m


def timed_request(client: httpx.Client, m: BenchMember, type_: str,
                  done: Callable[[str, str], bool]) -> float:
    """Seconds from submitting a privacy request of ``type_`` until ``done(request_id,
    status_token)`` holds (polled every 20 ms, at most 60 s)."""
    start = time.perf_counter()
    resp = client.post("/v1/privacy-requests", json={"type": type_}, headers=m.auth)
    resp.raise_for_status()
    rid, status_token = resp.json()["request_id"], resp.json()["status_token"]
    while not done(rid, status_token):
        if time.perf_counter() - start > 60:
            raise SystemExit(f"{type_} request {rid} not done after 60 s")
        time.sleep(0.02)
    return time.perf_counter() - start
