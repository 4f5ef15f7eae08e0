"""RET-2, RET-6: each service's way of ending a category, on its real projection tables.

Rows of one member go in on both sides of the order's instant; the ender must touch exactly
the member's rows recorded before it, and leave every other member's rows alone.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from stack import Infra, Platform

from accounts.service_layer.retention_ends import ENDERS as ACCOUNTS
from kernel.crypto import BlindIndex
from kernel.pseudonyms import pseudonym
from listings.service_layer.retention_ends import ENDERS as LISTINGS
from messaging.service_layer.retention_ends import ENDERS as MESSAGING

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
OLD, NEW = NOW - timedelta(days=200), NOW - timedelta(days=10)
BEFORE = NOW - timedelta(days=180)
RT: Any = SimpleNamespace(index=BlindIndex(b"k" * 32))


def _ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


async def _on_db(infra: Infra, work: Any) -> Any:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        async with conn.transaction():
            return await work(conn)
    finally:
        await conn.close()


def test_ret6_usage_is_pseudonymised_before_the_instant_only(
        infra: Infra, platform: Platform) -> None:
    member, other = _ids()

    async def work(conn: asyncpg.Connection) -> Any:
        for who, at in ((member, OLD), (member, NEW), (other, OLD)):
            await conn.execute("INSERT INTO listings.views VALUES ($1, $2, $3)",
                               who, f"l-{uuid.uuid4()}", at)
        held, detail = await LISTINGS["usage"](RT, conn, member, "pseudonymise", BEFORE)
        rows = await conn.fetch("SELECT member_id, at FROM listings.views "
                                "WHERE member_id = ANY($1) ORDER BY at",
                                [member, other, pseudonym(RT.index, "usage", member)])
        return held, detail, [(r["member_id"], r["at"]) for r in rows]

    held, detail, rows = asyncio.run(_on_db(infra, work))
    assert held and "1 row(s) of views pseudonymised" in detail
    token = pseudonym(RT.index, "usage", member)
    assert sorted(rows, key=lambda r: (r[1], r[0])) == sorted(
        [(token, OLD), (other, OLD), (member, NEW)], key=lambda r: (r[1], r[0]))


def test_ret2_applications_calls_feedback_messages_devices_end_before_the_instant(
        infra: Infra, platform: Platform) -> None:
    member, other = _ids()

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        for who, at in ((member, OLD), (member, NEW), (other, OLD)):
            await conn.execute(
                "INSERT INTO listings.applications VALUES ($1, $2, 'owner', $3, 'sealed', $4)",
                str(uuid.uuid4()), f"l-{uuid.uuid4()}", who, at)
            fid = str(uuid.uuid4())
            await conn.execute("INSERT INTO listings.feedback VALUES ($1, 'l', 'psn', 4, $2)",
                               fid, at)
            await conn.execute("INSERT INTO listings.feedback_comments VALUES ($1, $2, 'c')",
                               fid, who)
            await conn.execute("INSERT INTO accounts.devices VALUES ($1, $2, 'sealed', $3)",
                               str(uuid.uuid4()), who, at)
            await conn.execute(
                "INSERT INTO messaging.messages (message_id, conversation_id, sender_id, "
                "recipient_id, posted_at, status, outcome, reasons, attachments, event_id, "
                "body_token) VALUES ($1, 'c', $2, 'r', $3, 'delivered', 'delivered', '[]', 0, "
                "$4, 'token')", str(uuid.uuid4()), who, at, uuid.uuid4())
        number = f"+3197{uuid.uuid4().int % 10**8:08d}"
        await conn.execute("INSERT INTO listings.call_numbers VALUES ($1, $2, $3, '+31600')",
                           number, f"l-{uuid.uuid4()}", member)
        for at in (OLD, NEW):
            await conn.execute("INSERT INTO listings.calls VALUES ($1, 'l', $2, 'psn', 30, $3)",
                               str(uuid.uuid4()), number, at)
        done = {
            "applications": await LISTINGS["applications"](RT, conn, member, "erase", BEFORE),
            "feedback": await LISTINGS["feedback"](RT, conn, member, "pseudonymise", BEFORE),
            "call_tracking": await LISTINGS["call_tracking"](RT, conn, member, "erase",
                                                            BEFORE),
            "device": await ACCOUNTS["device"](RT, conn, member, "erase", BEFORE),
            "messages": await MESSAGING["messages"](RT, conn, member, "erase", BEFORE),
        }
        left = {
            "applications": await conn.fetch(
                "SELECT applicant_id, at FROM listings.applications "
                "WHERE applicant_id = ANY($1)", [member, other]),
            "feedback": await conn.fetch(
                "SELECT c.author_id, f.at FROM listings.feedback_comments c "
                "JOIN listings.feedback f USING (feedback_id) WHERE c.author_id = ANY($1)",
                [member, other, pseudonym(RT.index, "feedback", member)]),
            "call_tracking": await conn.fetch(
                "SELECT at FROM listings.calls WHERE tracking_number = $1", number),
            "device": await conn.fetch(
                "SELECT account_id, registered_at AS at FROM accounts.devices "
                "WHERE account_id = ANY($1)", [member, other]),
            "messages": await conn.fetch(
                "SELECT sender_id, posted_at AS at FROM messaging.messages "
                "WHERE sender_id = ANY($1) AND body_token IS NOT NULL", [member, other]),
        }
        return {"done": done, "left": {k: sorted(tuple(r) for r in v) for k, v in left.items()}}

    got = asyncio.run(_on_db(infra, work))
    assert all(held for held, _ in got["done"].values()), got["done"]
    psn = pseudonym(RT.index, "feedback", member)
    for category in ("applications", "device", "messages"):
        assert got["left"][category] == sorted([(member, NEW), (other, OLD)]), category
    assert got["left"]["feedback"] == sorted([(member, NEW), (other, OLD), (psn, OLD)])
    assert got["left"]["call_tracking"] == [(NEW,)]


def test_ret2_ret6_disputes_reports_and_report_notes_end_before_the_instant(
        infra: Infra, platform: Platform) -> None:
    """Dispute summaries are dropped; reports the member made are pseudonymised with their
    text dropped; notes of conversation reports go with the member's messages."""
    member, other = _ids()

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        for who, at in ((member, OLD), (member, NEW), (other, OLD)):
            await conn.execute(
                "INSERT INTO messaging.disputes (dispute_id, account_id, source, opened_by, "
                "opened_at, event_id, summary_token) VALUES ($1, $2, 'desk', 'staff', $3, $4, "
                "'token')", str(uuid.uuid4()), who, at, uuid.uuid4())
            for field in ("text", "note"):
                await conn.execute(
                    "INSERT INTO messaging.reports (report_id, kind, subject_id, reporter_id, "
                    "event_id, text_field, text_token, status, received_at) VALUES ($1, "
                    "'abuse', $2, $2, $3, $4, 'token', 'received', $5)",
                    str(uuid.uuid4()), who, uuid.uuid4(), field, at)
        done = {
            "disputes": await MESSAGING["disputes"](RT, conn, member, "erase", BEFORE),
            "security_logs": await MESSAGING["security_logs"](RT, conn, member,
                                                              "pseudonymise", BEFORE),
            "messages": await MESSAGING["messages"](RT, conn, member, "erase", BEFORE),
        }
        disputes = await conn.fetch(
            "SELECT account_id, opened_at FROM messaging.disputes WHERE account_id = ANY($1) "
            "AND summary_token IS NOT NULL", [member, other])
        reports = await conn.fetch(
            "SELECT text_field, subject_id, reporter_id, received_at, text_token IS NOT NULL "
            "FROM messaging.reports WHERE subject_id = ANY($1)",
            [member, other, pseudonym(RT.index, "security_logs", member)])
        return {"done": done, "disputes": sorted(tuple(r) for r in disputes),
                "reports": sorted(tuple(r) for r in reports)}

    got = asyncio.run(_on_db(infra, work))
    assert all(held for held, _ in got["done"].values()), got["done"]
    assert "1 report note(s)" in got["done"]["messages"][1]
    assert got["disputes"] == sorted([(member, NEW), (other, OLD)])
    psn = pseudonym(RT.index, "security_logs", member)
    assert got["reports"] == sorted([
        ("note", member, member, OLD, False), ("note", member, member, NEW, True),
        ("note", other, other, OLD, True), ("text", psn, psn, OLD, False),
        ("text", member, member, NEW, True), ("text", other, other, OLD, True)])
