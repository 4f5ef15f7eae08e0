"""Conversations and messages (MSG-1…4): start, post (scanned first), read, report.

A message is scanned before anything of it is stored (MSG-2); its body is kept only as the
sealed token of its event, under the sender's key for the ``messages`` category and the
month it was posted (MSG-3), and opened on read: "erased" once that key is gone.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import orjson

from contracts.messaging import (
    ConversationReported,
    ConversationStarted,
    MessagePosted,
    MessageScanned,
)
from contracts.personal import ERASED
from kernel.codec import SealedField, scope_end
from kernel.crypto import token_scope
from kernel.eventstore import NewEvent, RecordedEvent, StreamHead
from kernel.logs import get_logger
from messaging.adapters import directory
from messaging.domain import messages as messages_domain
from messaging.domain import rules
from messaging.domain.errors import Conflict, Invalid
from messaging.scanning.api import Attachment, Verdict
from messaging.service_layer import signals
from messaging.service_layer.context import Context, sealed

log = get_logger(__name__)

MAX_PAGE = 100


async def _participants(conn: asyncpg.Connection, conversation_id: str
                        ) -> tuple[str, str] | None:
    row = await conn.fetchrow(
        "SELECT started_by, recipient_id FROM messaging.conversations "
        "WHERE conversation_id = $1", conversation_id)
    return (row["started_by"], row["recipient_id"]) if row else None


async def start(caller: str, listing_id: str, recipient: str, ctx: Context) -> str:
    """Start a conversation about a listing, or return the pair's existing one (MSG-1)."""
    now = ctx.clock()
    low, high = sorted((caller, recipient))
    async with ctx.transaction() as conn:
        rules.check_new_conversation(caller, recipient, await directory.listing(conn, listing_id),
                                     await directory.account_status(conn, recipient))
        existing: str | None = await conn.fetchval(
            "SELECT conversation_id FROM messaging.conversations "
            "WHERE listing_id = $1 AND pair_low = $2 AND pair_high = $3", listing_id, low, high)
        if existing:
            return existing
        conversation_id = str(uuid4())
        if not await conn.fetchval(
            "INSERT INTO messaging.conversations VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (listing_id, pair_low, pair_high) DO NOTHING RETURNING 1",
            conversation_id, listing_id, caller, recipient, now, low, high):
            raise Conflict("the conversation was just started by the other side; retry")
        await ctx.store.append(conn, f"conversation-{conversation_id}", StreamHead(), [NewEvent(
            ConversationStarted(conversation_id=conversation_id, listing_id=listing_id,
                                started_by=caller, recipient_id=recipient), caller,
            occurred_at=now)])
        await signals.after_conversation(conn, ctx, caller, now)
    log.info("messaging.conversation_started", conversation_id=conversation_id)
    return conversation_id


async def _reserve(conn: asyncpg.Connection, sender: str, ctx: Context) -> None:
    """Take one of the sender's messages a minute, or refuse with Retry-After (MSG-4)."""
    now = ctx.clock()
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('messaging-send:' || $1))",
                       sender)
    sent = [r["at"] for r in await conn.fetch(
        "SELECT at FROM messaging.send_log WHERE sender_id = $1 AND at > $2",
        sender, now - timedelta(minutes=1))]
    rules.check_rate(sent, now, ctx.settings.messages_per_minute)
    await conn.execute("DELETE FROM messaging.send_log WHERE sender_id = $1 AND at <= $2",
                       sender, now - timedelta(minutes=1))
    await conn.execute("INSERT INTO messaging.send_log VALUES ($1, $2)", sender, now)


async def _scan(body: str, attachments: list[Attachment], ctx: Context) -> Verdict:
    """The scanner's verdict, off the event loop; a scanner that fails holds the message."""
    try:
        return await asyncio.to_thread(ctx.scanner.scan, body, attachments)
    except Exception as exc:  # a crashing engine must not let a message through (MSG-2)
        log.error("messaging.scanner_failed", error=type(exc).__name__)
        return Verdict("quarantined")


async def _project(conn: asyncpg.Connection, rec: RecordedEvent, posted: MessagePosted,
                   scanned: MessageScanned, now: datetime) -> None:
    """The message's row: metadata in the clear, the body only as its sealed token (MSG-3)."""
    token = sealed(rec, "body")
    scope = token_scope(token)
    await conn.execute(
        "INSERT INTO messaging.messages (message_id, conversation_id, sender_id, "
        "recipient_id, posted_at, status, outcome, reasons, attachments, event_id, "
        "body_token, body_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, "
        "$10, $11)",
        posted.message_id, posted.conversation_id, posted.sender_id, posted.recipient_id, now,
        posted.outcome, orjson.dumps([r.model_dump() for r in scanned.reasons]).decode(),
        posted.attachments, rec.event_id, token, scope_end(scope) if scope else None)


async def post(caller: str, conversation_id: str, body: str,
               attachments: list[Attachment], ctx: Context) -> dict[str, str]:
    """Scan, then store a message; only a delivered one reaches the recipient (MSG-2)."""
    if not body.strip():
        raise Invalid("body: must not be empty")
    async with ctx.transaction() as conn:
        recipient = rules.participant_or_404(caller, await _participants(conn, conversation_id))
        status = await directory.account_status(conn, recipient)
        if status == "locked":
            raise Conflict("the other participant is not available")
        if status != "active":
            raise Conflict("the other participant has left the platform")
        await _reserve(conn, caller, ctx)
    verdict = await _scan(body, attachments, ctx)
    message_id, now = str(uuid4()), ctx.clock()
    scanned, posted = messages_domain.record(message_id, conversation_id, caller, recipient,
                                             body, len(attachments), verdict)
    async with ctx.transaction() as conn:
        recs = await ctx.store.append(conn, f"message-{message_id}", StreamHead(), [
            NewEvent(scanned, caller, occurred_at=now), NewEvent(posted, caller, occurred_at=now)])
        await _project(conn, recs[1], posted, scanned, now)
        await signals.after_message(conn, ctx, caller, recipient, body, verdict, now)
    log.info("messaging.message_posted", message_id=message_id, outcome=verdict.outcome,
             reasons=[f"{r.detector}:{r.code}" for r in verdict.reasons])
    return {"message_id": message_id, "verdict": verdict.outcome}


async def bodies(rows: list[asyncpg.Record], ctx: Context) -> list[Any]:
    """The bodies of message rows: opened, "erased" where expired or erased, ``None`` if none."""
    wanted = [i for i, r in enumerate(rows) if r["body_token"]]
    opened = await ctx.open([SealedField(rows[i]["sender_id"], rows[i]["event_id"], "body",
                                         rows[i]["body_token"]) for i in wanted])
    out: list[Any] = [None if r["status"] == "blocked" else ERASED for r in rows]
    for i, value in zip(wanted, opened, strict=True):
        out[i] = value
    return out


def item(row: asyncpg.Record, body: Any, reader: str | None = None) -> dict[str, Any]:
    """A message as its participants see it: ids, verdict and body, no contact data.

    The recipient (``reader``) of a message held as a suspected scam and then released by
    trust and safety sees ``warning: "suspected_scam"`` beside it (issue 28): the fact, never
    the rule codes or what matched; the sender is not told.
    """
    view = {"message_id": row["message_id"], "conversation_id": row["conversation_id"],
            "sender_id": row["sender_id"], "verdict": row["status"], "body": body,
            "attachments": row["attachments"], "posted_at": row["posted_at"].isoformat(),
            "seq": row["seq"]}
    if reader is not None and reader == row["recipient_id"] and suspected_scam(row):
        view["warning"] = "suspected_scam"
    return view


def suspected_scam(row: asyncpg.Record) -> bool:
    """Whether the scanner held the message with a scam reason (rule or model)."""
    if row["outcome"] != "quarantined":
        return False
    return any(r.get("detector") == "scam" for r in orjson.loads(row["reasons"]))


async def messages(caller: str, conversation_id: str, after: int, limit: int, ctx: Context
                   ) -> dict[str, Any]:
    """A page of the conversation's messages, oldest first; ``next_cursor`` for the next."""
    limit = max(1, min(limit, MAX_PAGE))
    async with ctx.pool.acquire() as conn:
        rules.participant_or_404(caller, await _participants(conn, conversation_id))
        # one's own messages, whatever their verdict; the other's once delivered (MSG-2)
        rows = await conn.fetch(
            "SELECT * FROM messaging.messages WHERE conversation_id = $1 AND seq > $2 "
            "AND (sender_id = $3 OR status = 'delivered') ORDER BY seq LIMIT $4",
            conversation_id, after, caller, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [item(r, b, caller) for r, b in zip(rows, await bodies(rows, ctx), strict=True)]
    return {"items": items, "next_cursor": str(rows[-1]["seq"]) if more else None}


async def conversations(caller: str, after: str | None, limit: int, ctx: Context
                        ) -> dict[str, Any]:
    """The caller's conversations, newest first: ids and the other participant's id only."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = await ctx.pool.fetch(
        "SELECT * FROM messaging.conversations WHERE (pair_low = $1 OR pair_high = $1) "
        "AND ($2::text IS NULL OR (started_at, conversation_id) < (SELECT started_at, "
        "conversation_id FROM messaging.conversations WHERE conversation_id = $2 "
        "AND (pair_low = $1 OR pair_high = $1))) "
        "ORDER BY started_at DESC, conversation_id DESC LIMIT $3", caller, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"conversation_id": r["conversation_id"], "listing_id": r["listing_id"],
              "with_account_id": r["recipient_id"] if r["started_by"] == caller
              else r["started_by"], "started_at": r["started_at"].isoformat()} for r in rows]
    return {"items": items, "next_cursor": rows[-1]["conversation_id"] if more else None}


async def report(caller: str, conversation_id: str, reason: str, note: str | None,
                 ctx: Context) -> str:
    """A participant reports a conversation for abuse; it joins the staff's register (MSG-4)."""
    report_id, now = str(uuid4()), ctx.clock()
    async with ctx.transaction() as conn:
        other = rules.participant_or_404(caller, await _participants(conn, conversation_id))
        [rec] = await ctx.store.append(conn, f"report-{report_id}", StreamHead(), [NewEvent(
            ConversationReported(report_id=report_id, conversation_id=conversation_id,
                                 reporter_id=caller, reported_id=other,
                                 reason=reason, note=note),
            caller, occurred_at=now)])
        await conn.execute(
            "INSERT INTO messaging.reports (report_id, kind, subject_id, reporter_id, "
            "conversation_id, reported_id, reason, event_id, text_field, text_token, status, "
            "received_at) VALUES ($1, 'abuse', $2, $2, $3, $4, $5, $6, 'note', $7, "
            "'received', $8)", report_id, caller, conversation_id, other, reason,
            rec.event_id, sealed(rec, "note"), now)
    log.info("messaging.conversation_reported", report_id=report_id, reason=reason)
    return report_id


