"""RET-2, RET-4, RET-6, RET-7 through the running platform: a category whose period ended
is ended in every service's projections, with a receipt from each.

The clock is moved past the usage category's period (180 days, pseudonymised) for the
members of this module only: the schedule's own sweep decides, and its orders go out
through retention's event store and outbox as the running schedule sends them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from members import Member, post_listing, sign_up, step_up
from stack import Infra, Platform, eventually
from stored_keys import key_store, opened
from test_privacy_register import grant

from contracts.personal import ERASED
from contracts.privacy import ERASURE_SERVICES
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keycache import CachedKeyStore
from retention.adapters.register import load_register
from retention.service_layer import schedule
from retention.service_layer.schedule import orders_for, sweep

pytestmark = pytest.mark.e2e

REGISTER = load_register()


@asynccontextmanager
async def retention_store(infra: Infra) -> AsyncIterator[tuple[asyncpg.Connection, EventStore]]:
    """A connection and retention's event store, as the running service has them."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        async with key_store(infra) as keys:
            yield conn, EventStore("retention", CachedKeyStore(keys, 30))
    finally:
        await conn.close()


async def end_usage_of(infra: Infra, members: list[str], now: datetime) -> list[str]:
    """Sweep at ``now``; order the usage decisions of ``members`` (the running schedule's
    orders, sent through retention's outbox); returns the order ids."""
    async with retention_store(infra) as (conn, store):
        decided = [(s, d) for s, d in await sweep(conn, REGISTER, now)
                   if s in members and d.category == "usage"]
        orders = orders_for(REGISTER, decided, now)
        recs = []
        for order in orders:
            stream = f"category-order-{order.order_id}"
            if (await store.head(conn, stream)).version == 0:  # not sent yet
                recs += await store.encode(stream, StreamHead(),
                                           [NewEvent(order, order.subject_id)])
        if recs:
            await store.append_encoded(conn, recs)
        return [o.order_id for o in orders]


async def rows(infra: Infra, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _view_and_favourite(client: httpx.Client, viewer: Member, listing_id: str) -> None:
    assert client.get(f"/v1/listings/{listing_id}", headers=viewer.auth).status_code == 200
    got = client.post(f"/v1/listings/{listing_id}/favourite", headers=viewer.auth)
    assert got.status_code == 204, got.text


def test_ret2_ret6_an_ended_category_is_pseudonymised_everywhere_with_every_receipt(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    owner, viewer, held = (sign_up(client, t) for t in ("catowner", "catviewer", "catheld"))
    made = client.post("/v1/listings", headers=owner.auth, json={
        "kind": "ad", "title": "Racefiets", "description": "Een snelle fiets",
        "location": {"city": "Utrecht"}})
    assert made.status_code == 201, made.text
    listing_id = made.json()["listing_id"]
    for m in (viewer, held):
        _view_and_favourite(client, m, listing_id)

    def usage_known() -> None:  # retention has seen the usage events (RET-2)
        got = asyncio.run(rows(infra, "SELECT DISTINCT subject_id FROM retention.subject_data "
                                      "WHERE category = 'usage' AND subject_id = ANY($1)",
                               [viewer.account_id, held.account_id]))
        assert len(got) == 2

    eventually(usage_known, timeout=30)
    dpo = sign_up(client, "catdpo")
    grant(platform, dpo, "dpo")

    def dpo_known() -> None:
        got = client.get("/v1/staff/legal-holds", headers=dpo.auth)
        assert got.status_code == 200, got.text

    eventually(dpo_known, timeout=45)
    placed = client.post("/v1/staff/legal-holds", headers=dpo.auth, json={
        "subject_id": held.account_id, "category": "usage", "reason": "court order",
        "authority": "rechtbank Utrecht", "case_reference": "C/16/1"})
    assert placed.status_code in (200, 201), placed.text

    early = datetime.now(UTC) + timedelta(days=179)
    assert asyncio.run(end_usage_of(infra, [viewer.account_id], early)) == []
    now = datetime.now(UTC) + timedelta(days=181)
    orders = asyncio.run(end_usage_of(infra, [viewer.account_id, held.account_id], now))
    assert len(orders) == 1  # the held member's usage is kept (RET-4)

    def every_receipt() -> list[asyncpg.Record]:
        got = asyncio.run(rows(infra, "SELECT * FROM retention.category_receipts "
                                      "WHERE order_id = $1", orders[0]))
        assert {r["service"] for r in got} == set(ERASURE_SERVICES), got
        return got

    receipts = eventually(every_receipt, timeout=60)
    by_service = {r["service"]: r for r in receipts}
    assert by_service["listings"]["held_data"] is True
    assert by_service["listings"]["action"] == "pseudonymise"
    assert not any(viewer.account_id in r["detail"] for r in receipts)  # ids, counts only

    mine = asyncio.run(rows(infra, "SELECT member_id FROM listings.views WHERE listing_id = $1 "
                                   "UNION ALL SELECT member_id FROM listings.favourites "
                                   "WHERE listing_id = $1", listing_id))
    ids = sorted(r["member_id"] for r in mine)
    assert viewer.account_id not in ids  # exactly this member's usage, pseudonymised
    assert ids.count(held.account_id) == 2  # held: untouched
    assert len([i for i in ids if i.startswith("psn_")]) == 2
    still = asyncio.run(rows(infra, "SELECT 1 FROM listings.accounts WHERE account_id = $1",
                             viewer.account_id))
    assert still, "only the ended category goes, the account stays"

    shown = client.get("/v1/staff/retention-actions", headers=dpo.auth,
                       params={"subject_id": viewer.account_id})
    assert shown.status_code == 200, shown.text
    assert {(r["service"], r["category"], r["action"]) for r in shown.json()["receipts"]} == {
        (s, "usage", "pseudonymise") for s in ERASURE_SERVICES}
    refused = client.get("/v1/staff/retention-actions", headers=viewer.auth,
                         params={"subject_id": viewer.account_id})
    assert refused.status_code == 403, refused.text

    again = asyncio.run(end_usage_of(infra, [viewer.account_id], now))
    assert again == orders  # the same order: answered once, no second effect
    assert len(asyncio.run(rows(infra, "SELECT 1 FROM retention.category_receipts "
                                       "WHERE order_id = $1", orders[0]))) == len(
                                           ERASURE_SERVICES)


def test_ret2_a_closed_account_starts_its_identity_period(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    """RET-2, RET-7: retention learns of a closure from the accounts events; the identity
    and contact periods count from it (the schedule's pg tests show the erasure at the end)."""
    m = sign_up(client, "closing")
    step_up(client, m)
    closed = client.post("/v1/me/closure", headers=m.auth)
    assert closed.status_code == 204, closed.text

    def noted() -> None:
        got = asyncio.run(rows(infra, "SELECT closed_at FROM retention.closed_accounts "
                                      "WHERE subject_id = $1", m.account_id))
        assert len(got) == 1

    eventually(noted, timeout=30)


def test_ret2_listings_and_demographics_end_in_every_store_a_year_after_their_last_use(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    """RET-2, RET-7: categories counted from their last use (the member's listings, the
    optional demographics) end whole a year later: the listing is deleted everywhere, the
    profile loses those fields, and the category's keys are destroyed, so the values the
    event stores keep read "erased" (only that category: the account stays whole)."""
    m = sign_up(client, "lastused")
    step_up(client, m)
    changed = client.patch("/v1/me", headers=m.auth,
                           json={"gender": "non-binary", "interests": ["fietsen"]})
    assert changed.status_code == 200, changed.text
    listing_id = post_listing(client, m, "Oude kast", "Eiken, 2 meter")

    def known() -> None:
        got = asyncio.run(rows(infra, "SELECT DISTINCT category FROM retention.subject_data "
                                      "WHERE subject_id = $1", m.account_id))
        assert {"listings", "optional_demographics"} <= {r["category"] for r in got}

    eventually(known, timeout=30)
    ended = {"listings", "optional_demographics"}

    async def run_schedule(at: datetime) -> list[str]:
        async with retention_store(infra) as (conn, store):
            taken = await schedule.run(conn, store.keys, REGISTER, at, store=store,
                                       subjects=[m.account_id])
        return sorted(d.category for _, d in taken if d.category in ended)

    assert asyncio.run(run_schedule(datetime.now(UTC) + timedelta(days=364))) == []
    at = datetime.now(UTC) + timedelta(days=366)
    assert asyncio.run(run_schedule(at)) == sorted(ended)

    def every_receipt() -> list[asyncpg.Record]:
        got = asyncio.run(rows(infra, "SELECT service, category, held_data, detail FROM "
                                      "retention.category_receipts WHERE subject_id = $1 "
                                      "AND category = ANY($2)", m.account_id, list(ended)))
        assert len(got) == 2 * len(ERASURE_SERVICES), got
        return got

    receipts = {(r["service"], r["category"]): r for r in eventually(every_receipt, timeout=60)}
    assert receipts[("listings", "listings")]["detail"] == "1 listing(s) deleted"
    assert "gender, interests" in receipts[("accounts", "optional_demographics")]["detail"]
    assert client.get(f"/v1/listings/{listing_id}", headers=m.auth).status_code == 404
    me = client.get("/v1/me", headers=m.auth)
    assert me.status_code == 200, me.text  # the account itself stays
    assert me.json().get("gender") is None and me.json().get("interests") is None
    assert me.json()["email"] == m.email

    # The stored events: the category's values read "erased", the rest still opens.
    sql = ("SELECT event_type, schema_version, event_id, payload FROM listings.events "
           "WHERE stream_id = $1 AND event_type = 'listings.ListingCreated' UNION ALL "
           "SELECT event_type, schema_version, event_id, payload FROM accounts.events "
           "WHERE stream_id = $2 AND event_type IN ('accounts.AccountRegistered', "
           "'accounts.AccountDetailsChanged')")
    events = asyncio.run(opened(infra, m.account_id, sql, f"listing-{listing_id}",
                                f"account-{m.account_id}"))
    assert events["listings.ListingCreated"]["title"] == ERASED
    assert events["accounts.AccountDetailsChanged"]["gender"] == ERASED
    assert events["accounts.AccountRegistered"]["email"] == m.email  # identity stays
