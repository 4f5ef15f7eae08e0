"""The consent ledger: the state at any past instant and the entries behind it (CNS-5, CNS-6)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from consent.domain import commands
from consent.domain.catalogue import Statement
from consent.service_layer import handlers
from consent.service_layer.context import Context

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """An instant ``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


def state(view: dict[str, Any], purpose: str) -> dict[str, Any]:
    """One purpose's state in a consents view."""
    return next(p for p in view["purposes"] if p["purpose"] == purpose)


async def test_cns_5_cns_6_state_at_any_instant_over_grants_withdrawals_and_a_new_statement(
    ctx: Context, member: str,
) -> None:
    # Statement v2 takes effect at T0+150 min and changes the e-mail marketing text.
    v2 = Statement(2, at(150), frozenset({"marketing_email"}))
    catalogue = dataclasses.replace(ctx.catalogue,
                                    statements=(*ctx.catalogue.statements, v2))
    history = [(0, "marketing_email", True), (60, "marketing_email", False),
               (120, "marketing_email", True), (180, "marketing_sms", True)]
    ids = []
    for minutes, purpose, granted in history:
        c = dataclasses.replace(ctx, catalogue=catalogue, clock=lambda m=minutes: at(m))
        ids.append((await handlers.set_consent(
            commands.SetConsent(member, purpose, granted), c))["entries"][-1])
    c = dataclasses.replace(ctx, catalogue=catalogue)

    before = await handlers.read_consents(member, c, at(-1))
    assert state(before, "marketing_email")["granted"] is False and before["ledger"] == []

    first = await handlers.read_consents(member, c, at(30))
    assert state(first, "marketing_email")["granted"] is True
    assert state(first, "marketing_email")["entries"] == [ids[0]]
    assert state(first, "marketing_email")["statement_version"] == 1
    assert [e["entry_id"] for e in first["ledger"]] == [ids[0]]
    entry = first["ledger"][0]
    assert entry["action"] == "granted" and entry["source"] == "web"
    assert entry["legal_basis"] == "consent" and entry["statement_version"] == 1

    withdrawn = await handlers.read_consents(member, c, at(90))
    assert state(withdrawn, "marketing_email")["granted"] is False
    assert state(withdrawn, "marketing_email")["entries"] == ids[:2]

    renewed = await handlers.read_consents(member, c, at(140))
    assert state(renewed, "marketing_email")["granted"] is True
    assert state(renewed, "marketing_email")["needs_reconsent"] is False

    # After v2 takes effect the v1 consent is flagged and counts as not granted (CNS-6).
    after = await handlers.read_consents(member, c, at(200))
    email = state(after, "marketing_email")
    assert email["needs_reconsent"] is True and email["granted"] is False
    assert state(after, "marketing_sms")["granted"] is True  # its text did not change
    assert state(after, "marketing_sms")["statement_version"] == 2
    assert len(after["ledger"]) == 4

    # Re-consenting under v2 renews it.
    c_now = dataclasses.replace(c, clock=lambda: at(210))
    renewed_v2 = await handlers.set_consent(
        commands.SetConsent(member, "marketing_email", True), c_now)
    assert renewed_v2["granted"] is True and renewed_v2["statement_version"] == 2


async def test_cns_5_as_of_over_the_internal_api_and_append_only_ledger(
    client: httpx.AsyncClient, h: dict[str, str], rt: Any,
) -> None:
    await client.put("/internal/consents/marketing_phone", json={"granted": True}, headers=h)
    mid = datetime.now(UTC)
    await client.put("/internal/consents/marketing_phone", json={"granted": False}, headers=h)
    then = (await client.get("/internal/consents", params={"as_of": mid.isoformat()},
                             headers=h)).json()
    assert state(then, "marketing_phone")["granted"] is True
    assert [e["action"] for e in then["ledger"]] == ["granted"]
    now = (await client.get("/internal/consents", headers=h)).json()
    assert state(now, "marketing_phone")["granted"] is False
    naive = await client.get("/internal/consents", params={"as_of": "2026-01-01T00:00:00"},
                             headers=h)
    assert naive.status_code == 422
    async with rt.pool.acquire() as conn:
        with pytest.raises(Exception, match="append-only"):
            await conn.execute("DELETE FROM consent.events WHERE subject_id = $1",
                               h["X-Account-Id"])


async def test_cns_5_dpo_reads_a_members_ledger_and_the_access_is_recorded(
    client: httpx.AsyncClient, h: dict[str, str], rt: Any,
) -> None:
    member = h["X-Account-Id"]
    await client.put("/internal/consents/newsletter", json={"granted": True}, headers=h)
    dpo = "dpo-" + member
    headers = {"X-Account-Id": dpo}
    refused = await client.get(f"/internal/staff/consents/{member}",
                               params={"purpose": "privacy_request"}, headers=headers)
    assert refused.status_code == 403
    async with rt.pool.acquire() as conn:
        await conn.execute("INSERT INTO consent.staff_roles VALUES ($1, 'dpo')", dpo)
    try:
        read = await client.get(f"/internal/staff/consents/{member}",
                                params={"purpose": "privacy_request"}, headers=headers)
        assert read.status_code == 200
        assert state(read.json(), "newsletter")["granted"] is True
        assert [e["action"] for e in read.json()["ledger"]] == ["granted"]
        async with rt.pool.acquire() as conn:
            recorded = await conn.fetchval(
                "SELECT count(*) FROM consent.events WHERE event_type = "
                "'consent.ConsentLedgerRead' AND subject_id = $1", member)
        assert recorded == 1
    finally:
        async with rt.pool.acquire() as conn:
            await conn.execute("DELETE FROM consent.staff_roles WHERE account_id = $1", dpo)
