"""The trust-and-safety desk (MSG-2, SEC-3, SEC-5): quarantine, reports, disputes, notices.

Only staff with the right role (learned from the accounts events) get here; every read of
personal data (a quarantined body, a report's text, a dispute's summary) is recorded as a
staff access event in the same transaction, naming ids, never values (SEC-2).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import uuid4

import asyncpg
import orjson

from contracts.messaging import (
    DisputeClosed,
    DisputeOpened,
    MessageReviewed,
    Register,
    ReportReviewed,
    StaffAccessRecorded,
)
from kernel.codec import SealedField
from kernel.eventstore import NewEvent, StreamHead
from kernel.logs import get_logger
from messaging.adapters import directory
from messaging.domain.errors import Conflict, Forbidden, NotFound
from messaging.service_layer.context import Context, sealed
from messaging.service_layer.conversations import bodies, item

log = get_logger(__name__)

DESK = ("trust_and_safety",)
"""Roles that work the quarantine, the abuse reports and the disputes register."""
SECURITY = ("trust_and_safety", "ops")
"""Roles that read vulnerability reports."""
OVERSIGHT = ("dpo", "auditor")
"""Roles that read the log of staff reads."""


async def _role(conn: asyncpg.Connection, staff: str, roles: tuple[str, ...]) -> str:
    role = await directory.has_role(conn, staff, roles)
    if role is None:
        raise Forbidden("your staff roles do not allow this")
    return role


async def _record(conn: asyncpg.Connection, ctx: Context, staff: str, role: str,
                  purpose: str, register: Register, shown: dict[str, list[str]]) -> str:
    """One staff-access event per member whose data was shown (SEC-2)."""
    access_id = str(uuid4())
    events = [NewEvent(StaffAccessRecorded(
        access_id=access_id, staff_account_id=staff, role=role,
        subject_id=subject, purpose=purpose, kind=register, item_ids=ids), subject,
        occurred_at=ctx.clock()) for subject, ids in shown.items()]
    if events:
        await ctx.store.append(conn, f"staff-access-{access_id}", StreamHead(), events)
        await conn.executemany(
            "INSERT INTO messaging.staff_access VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(access_id, subject, staff, role, purpose, register, ids, ctx.clock())
             for subject, ids in shown.items()])
        log.info("messaging.staff_read", access_id=access_id, register=register,
                 subjects=len(shown))
    return access_id


async def quarantine(staff: str, purpose: str, limit: int, ctx: Context) -> dict[str, Any]:
    """The quarantined messages, oldest first, with their bodies and reasons (MSG-2)."""
    async with ctx.transaction() as conn:
        role = await _role(conn, staff, DESK)
        rows = await conn.fetch(
            "SELECT * FROM messaging.messages WHERE status = 'quarantined' ORDER BY seq "
            "LIMIT $1", max(1, min(limit, 100)))
        shown: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            shown[r["sender_id"]].append(r["message_id"])
        access_id = await _record(conn, ctx, staff, role, purpose, "quarantine", dict(shown))
    opened = await bodies(rows, ctx)
    items = []
    for r, body in zip(rows, opened, strict=True):
        view = item(r, body)
        view["reasons"] = orjson.loads(r["reasons"])
        items.append(view)
    return {"items": items, "access_id": access_id}


async def review(staff: str, message_id: str, decision: str, ctx: Context) -> dict[str, str]:
    """Release a quarantined message to its recipient, or block it (MSG-2)."""
    async with ctx.transaction() as conn:
        await _role(conn, staff, DESK)
        status = await conn.fetchval(
            "SELECT status FROM messaging.messages WHERE message_id = $1 FOR UPDATE", message_id)
        if status is None:
            raise NotFound("no such message")
        if status != "quarantined":
            raise Conflict("the message is not in quarantine")
        new = "delivered" if decision == "deliver" else "blocked"
        await ctx.store.append(conn, f"review-{message_id}", StreamHead(), [NewEvent(
            MessageReviewed(message_id=message_id, reviewer_id=staff,
                            decision=decision),
            None, occurred_at=ctx.clock())])
        await conn.execute(
            "UPDATE messaging.messages SET status = $2, body_token = CASE WHEN $2 = 'blocked' "
            "THEN NULL ELSE body_token END WHERE message_id = $1", message_id, new)
    log.info("messaging.message_reviewed", message_id=message_id, decision=decision)
    return {"message_id": message_id, "verdict": new}


async def reports(staff: str, purpose: str, status: str | None, limit: int, ctx: Context
                  ) -> dict[str, Any]:
    """Abuse and vulnerability reports, oldest first, with their text (SEC-5, MSG-4)."""
    async with ctx.transaction() as conn:
        role = await _role(conn, staff, SECURITY)
        kinds = ["abuse", "vulnerability"] if role == "trust_and_safety" else ["vulnerability"]
        rows = await conn.fetch(
            "SELECT * FROM messaging.reports WHERE kind = ANY($1) "
            "AND ($2::text IS NULL OR status = $2) ORDER BY received_at LIMIT $3",
            kinds, status, max(1, min(limit, 100)))
        shown: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            shown[r["subject_id"]].append(r["report_id"])
        access_id = await _record(conn, ctx, staff, role, purpose, "reports", dict(shown))
    fields = []
    for r in rows:
        for name, column in ((r["text_field"], "text_token"), ("contact", "contact_token")):
            if r[column]:
                fields.append(SealedField(r["subject_id"], r["event_id"], name, r[column]))
    opened = iter(await ctx.open(fields))
    items = []
    for r in rows:
        text = next(opened) if r["text_token"] else None
        contact = next(opened) if r["contact_token"] else None
        items.append({"report_id": r["report_id"], "kind": r["kind"], "status": r["status"],
                      "reporter_id": r["reporter_id"], "conversation_id": r["conversation_id"],
                      "reported_id": r["reported_id"], "reason": r["reason"], "text": text,
                      "contact": contact, "received_at": r["received_at"].isoformat()})
    return {"items": items, "access_id": access_id}


async def review_report(staff: str, report_id: str, status: str, ctx: Context
                        ) -> dict[str, str]:
    """Triage, resolve or reject a report (SEC-5)."""
    async with ctx.transaction() as conn:
        role = await _role(conn, staff, SECURITY)
        kind = await conn.fetchval(
            "SELECT kind FROM messaging.reports WHERE report_id = $1 FOR UPDATE", report_id)
        if kind is None or (kind == "abuse" and role != "trust_and_safety"):
            raise NotFound("no such report")
        await ctx.store.append(conn, f"report-review-{uuid4()}", StreamHead(), [NewEvent(
            ReportReviewed(report_id=report_id, reviewer_id=staff,
                           status=status),
            None, occurred_at=ctx.clock())])
        await conn.execute("UPDATE messaging.reports SET status = $2 WHERE report_id = $1",
                           report_id, status)
    return {"report_id": report_id, "status": status}


async def open_dispute(staff: str, account_id: str, source: str, reference: str | None,
                       summary: str | None, ctx: Context) -> str:
    """Register a dispute linked to an account by id (SEC-3); it holds erasure (retention)."""
    dispute_id, now = str(uuid4()), ctx.clock()
    async with ctx.transaction() as conn:
        await _role(conn, staff, DESK)
        if await directory.account_status(conn, account_id) is None:
            raise NotFound("no such account")
        [rec] = await ctx.store.append(conn, f"dispute-{dispute_id}", StreamHead(), [NewEvent(
            DisputeOpened(dispute_id=dispute_id, account_id=account_id,
                          source=source, reference=reference,
                          opened_by=staff, summary=summary), account_id, occurred_at=now)])
        await conn.execute(
            "INSERT INTO messaging.disputes (dispute_id, account_id, source, reference, "
            "opened_by, opened_at, event_id, summary_token) VALUES ($1, $2, $3, $4, $5, $6, "
            "$7, $8)", dispute_id, account_id, source, reference, staff, now, rec.event_id,
            sealed(rec, "summary"))
    log.info("messaging.dispute_opened", dispute_id=dispute_id, source=source)
    return dispute_id


async def close_dispute(staff: str, dispute_id: str, resolution: str, ctx: Context
                        ) -> dict[str, str]:
    """Close a dispute; the erasure hold it placed ends (SEC-3)."""
    now = ctx.clock()
    async with ctx.transaction() as conn:
        await _role(conn, staff, DESK)
        row = await conn.fetchrow(
            "SELECT account_id, closed_at FROM messaging.disputes WHERE dispute_id = $1 "
            "FOR UPDATE", dispute_id)
        if row is None:
            raise NotFound("no such dispute")
        if row["closed_at"] is not None:
            raise Conflict("the dispute is already closed")
        await ctx.store.append(conn, f"dispute-{dispute_id}-closed", StreamHead(), [NewEvent(
            DisputeClosed(dispute_id=dispute_id, account_id=row["account_id"], closed_by=staff,
                          resolution=resolution),
            row["account_id"], occurred_at=now)])
        await conn.execute(
            "UPDATE messaging.disputes SET closed_at = $2, closed_by = $3, resolution = $4 "
            "WHERE dispute_id = $1", dispute_id, now, staff, resolution)
    return {"dispute_id": dispute_id, "status": "closed", "resolution": resolution}


async def disputes(staff: str, purpose: str, account_id: str | None, ctx: Context
                   ) -> dict[str, Any]:
    """The disputes register, newest first, with summaries (SEC-3)."""
    async with ctx.transaction() as conn:
        role = await _role(conn, staff, DESK)
        rows = await conn.fetch(
            "SELECT * FROM messaging.disputes WHERE ($1::text IS NULL OR account_id = $1) "
            "ORDER BY opened_at DESC LIMIT 200", account_id)
        shown: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            if r["summary_token"]:
                shown[r["account_id"]].append(r["dispute_id"])
        access_id = await _record(conn, ctx, staff, role, purpose, "disputes", dict(shown))
    withsummary = [r for r in rows if r["summary_token"]]
    opened = dict(zip((r["dispute_id"] for r in withsummary), await ctx.open(
        [SealedField(r["account_id"], r["event_id"], "summary", r["summary_token"])
         for r in withsummary]), strict=True))
    return {"access_id": access_id, "items": [{
        "dispute_id": r["dispute_id"], "account_id": r["account_id"], "source": r["source"],
        "reference": r["reference"], "opened_by": r["opened_by"],
        "opened_at": r["opened_at"].isoformat(), "summary": opened.get(r["dispute_id"]),
        "status": "open" if r["closed_at"] is None else "closed",
        "resolution": r["resolution"]} for r in rows]}


async def notices(staff: str, purpose: str, ctx: Context) -> dict[str, Any]:
    """Suspicious-activity notices, newest first, by public username (SEC-3); recorded."""
    async with ctx.transaction() as conn:
        role = await _role(conn, staff, DESK)
        rows = await conn.fetch(
            "SELECT n.*, a.username FROM messaging.notices n LEFT JOIN messaging.accounts a "
            "USING (account_id) ORDER BY n.at DESC LIMIT 200")
        shown: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            shown[r["account_id"]].append(r["notice_id"])
        access_id = await _record(conn, ctx, staff, role, purpose, "notices", dict(shown))
    return {"access_id": access_id, "items": [
        {"notice_id": r["notice_id"], "account_id": r["account_id"], "username": r["username"],
         "signal": r["signal"], "count": r["count"], "indicator": r["indicator"],
         "at": r["at"].isoformat()} for r in rows]}


async def access_log(staff: str, subject_id: str | None, staff_account_id: str | None,
                     limit: int, ctx: Context) -> dict[str, Any]:
    """Staff reads in messaging, newest first: who, whose, why, which items (DPO, auditor)."""
    async with ctx.pool.acquire() as conn:
        await _role(conn, staff, OVERSIGHT)
        rows = await conn.fetch(
            "SELECT * FROM messaging.staff_access WHERE ($1::text IS NULL OR subject_id = $1) "
            "AND ($2::text IS NULL OR staff_account_id = $2) "
            "ORDER BY accessed_at DESC LIMIT $3", subject_id, staff_account_id,
            max(1, min(limit, 1000)))
    return {"items": [{"access_id": r["access_id"], "staff_account_id": r["staff_account_id"],
                       "role": r["role"], "subject_id": r["subject_id"],
                       "purpose": r["purpose"], "kind": r["kind"],
                       "item_ids": list(r["item_ids"]),
                       "accessed_at": r["accessed_at"].isoformat()} for r in rows]}
