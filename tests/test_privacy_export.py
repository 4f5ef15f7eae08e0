"""Access and portability exports over the gateway (PRV-1, PRV-2).

A member who used several services asks for their data: every service gives its part over
Kafka, retention assembles one document with the data register's purposes, legal basis and
retention period per category. The export is sealed at rest under the member's key, is the
member's alone, expires, and goes with the member's erasure.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from members import Member, post_listing, sign_up, step_up
from stack import Infra, eventually
from stored_keys import key_store

from contracts.accounts import AccountDetailsChanged
from contracts.privacy import ERASURE_SERVICES, SubjectExport
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keycache import CachedKeyStore
from retention.adapters.register import load_register

pytestmark = pytest.mark.e2e


def ask(client: httpx.Client, m: Member, type_: str) -> str:
    step_up(client, m)
    resp = client.post("/v1/privacy-requests", json={"type": type_}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    request_id: str = resp.json()["request_id"]
    return request_id


def export_of(client: httpx.Client, m: Member, request_id: str) -> dict[str, Any]:
    def ready() -> dict[str, Any]:
        resp = client.get(f"/v1/privacy-requests/{request_id}/export", headers=m.auth)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    return eventually(ready, timeout=30, interval=0.2)


def values(doc: dict[str, Any], category: str, service: str) -> list[Any]:
    for cat in doc["categories"]:
        if cat["category"] == category:
            for src in cat["held_by"]:
                if src["service"] == service:
                    return [v["value"] for v in src["values"]]
    return []


def used_every_service(client: httpx.Client) -> tuple[Member, str]:
    m = sign_up(client, "exp")
    assert client.put("/v1/me/consents/marketing_email", json={"granted": True},
                      headers=m.auth).status_code == 200
    title = f"Bike for sale by {m.username}"
    # once listings has learnt of the account (it answers 409 account_not_ready before)
    post_listing(client, m, title, "A sturdy bike.")
    return m, title


def test_prv1_access_export_holds_every_services_data_with_the_register(
    client: httpx.Client,
) -> None:
    m, title = used_every_service(client)
    request_id = ask(client, m, "access")
    doc = export_of(client, m, request_id)
    SubjectExport.model_validate(doc)  # the documented, versioned schema
    assert doc["format"] == "marketplace.subject-export" and doc["format_version"] == 1
    assert doc["subject_id"] == m.account_id and doc["type"] == "access"
    assert sorted(doc["services"]) == sorted(ERASURE_SERVICES)
    assert sorted(doc["services"]) == [  # by name (PRV-4)
        "accounts", "consent", "listings", "messaging", "retention"]
    assert m.email in values(doc, "contact", "accounts")
    assert m.name in values(doc, "identity", "accounts")
    assert any(title in str(v) for v in values(doc, "listings", "listings"))
    assert values(doc, "consent_records", "consent")
    identity_fields = {v["field"] for c in doc["categories"] if c["category"] == "identity"
                       for src in c["held_by"] for v in src["values"]}
    assert "username" in identity_fields and "password_hash" not in identity_fields
    register = load_register()
    assert doc["register_version"] == register.version
    for cat in doc["categories"]:
        entry = register.entry(cat["category"])
        assert cat["purposes"] == list(entry.purposes)
        assert cat["legal_basis"] == entry.legal_basis
        assert cat["retention_days"] == entry.retention_days
        assert cat["source"] == entry.source and cat["recipients"] == []
    status = client.get(f"/v1/privacy-requests/{request_id}", headers=m.auth).json()
    assert status["status"] == "completed"
    assert {r["service"] for r in status["receipts"]} == set(ERASURE_SERVICES)


def test_prv2_portability_export_is_the_members_alone(client: httpx.Client) -> None:
    m, _ = used_every_service(client)
    other = sign_up(client, "other")
    request_id = ask(client, m, "portability")
    doc = export_of(client, m, request_id)
    assert doc["type"] == "portability" and m.email in values(doc, "contact", "accounts")
    theirs = client.get(f"/v1/privacy-requests/{request_id}/export", headers=other.auth)
    assert theirs.status_code == 404 and m.email not in theirs.text
    assert client.get(f"/v1/privacy-requests/{request_id}/export").status_code == 401
    erasure_like = ask(client, other, "objection")
    resp = client.get(f"/v1/privacy-requests/{erasure_like}/export", headers=other.auth)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_an_export"


def test_prv1_export_is_sealed_at_rest_expires_and_goes_with_erasure(
    client: httpx.Client, infra: Infra,
) -> None:
    m, _ = used_every_service(client)
    first = ask(client, m, "access")
    export_of(client, m, first)

    async def sql(query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    sealed = asyncio.run(sql("SELECT sealed FROM retention.export_parts WHERE subject_id = $1",
                             m.account_id))
    assert len(sealed) == len(ERASURE_SERVICES)
    assert all(m.email not in r["sealed"] and m.name not in r["sealed"] for r in sealed)
    # Its seven days are over: the parts are deleted and the export answers 410.
    asyncio.run(sql("UPDATE retention.exports SET expires_at = now() - interval '1 second' "
                    "WHERE request_id = $1", first))
    gone = client.get(f"/v1/privacy-requests/{first}/export", headers=m.auth)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "expired"
    assert not asyncio.run(sql("SELECT 1 FROM retention.export_parts WHERE request_id = $1",
                               first))
    # A fresh export, then the member's erasure takes it along.
    second = ask(client, m, "access")
    export_of(client, m, second)
    erasure = ask(client, m, "erasure")
    token_holder = client.get(f"/v1/privacy-requests/{erasure}", headers=m.auth)
    assert token_holder.status_code in (200, 401)

    def parts_gone() -> None:
        rows = asyncio.run(sql("SELECT 1 FROM retention.export_parts WHERE subject_id = $1",
                               m.account_id))
        assert rows == []

    eventually(parts_gone, timeout=30, interval=0.2)


def test_prv1_a_part_larger_than_a_broker_message_comes_in_chunks(
    client: httpx.Client, infra: Infra,
) -> None:
    """A member with years of history: the accounts part holds more than 1 MB of values,
    more than one Kafka record may carry; it comes in sealed chunks, and the document holds
    every value once the last chunk is in."""
    m = sign_up(client, "bigexp")
    phones = [f"+3162{i:07d}" for i in range(6000)]

    async def history() -> None:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            async with key_store(infra) as keys:
                store = EventStore("accounts", CachedKeyStore(keys, 30))
                await store.append(conn, f"history-{m.account_id}", StreamHead(), [
                    NewEvent(AccountDetailsChanged(account_id=m.account_id, phone=p),
                             m.account_id) for p in phones])
        finally:
            await conn.close()

    asyncio.run(history())
    request_id = ask(client, m, "access")

    def ready() -> dict[str, Any]:
        resp = client.get(f"/v1/privacy-requests/{request_id}/export", headers=m.auth)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    doc = eventually(ready, timeout=60, interval=0.5)
    held = values(doc, "contact", "accounts")
    assert set(phones) <= {v for v in held if isinstance(v, str)}

    async def chunks() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            return list(await conn.fetch(
                "SELECT chunk, chunks, length(sealed) AS size FROM retention.export_parts "
                "WHERE request_id = $1 AND service = 'accounts' ORDER BY chunk", request_id))
        finally:
            await conn.close()

    got = asyncio.run(chunks())
    assert len(got) > 1 and [r["chunk"] for r in got] == list(range(got[0]["chunks"]))
    assert sum(r["size"] for r in got) > 1024 * 1024  # more than one record could carry
    assert all(r["size"] < 512 * 1024 for r in got)
