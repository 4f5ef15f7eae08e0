"""Suspicious-activity signals (SEC-3): counted in the same transaction as what they count.

A text is compared by a keyed hash (never stored), a link domain by the registrable domain
a detector named. A signal raises one notice per window, naming the public username.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import asyncpg

from contracts.messaging import Signal, SuspiciousActivityNoticed
from kernel.eventstore import NewEvent, StreamHead
from kernel.logs import get_logger
from messaging.adapters import directory
from messaging.domain.rules import normalised
from messaging.scanning.api import Verdict
from messaging.service_layer.context import Context

log = get_logger(__name__)

TEXT_WINDOW = timedelta(hours=1)
CONVERSATION_WINDOW = timedelta(minutes=10)
DOMAIN_WINDOW = timedelta(days=1)


async def _notice(conn: asyncpg.Connection, ctx: Context, account_id: str, signal: Signal,
                  count: int, window: timedelta, now: datetime, indicator: str | None = None
                  ) -> None:
    """One notice per account, signal (and indicator) and window."""
    if await conn.fetchval(
        "SELECT 1 FROM messaging.notices WHERE account_id = $1 AND signal = $2 "
        "AND indicator IS NOT DISTINCT FROM $3 AND at > $4",
        account_id, signal, indicator, now - window):
        return
    notice_id = str(uuid4())
    name = await directory.username(conn, account_id)
    await ctx.store.append(conn, f"notice-{notice_id}", StreamHead(), [NewEvent(
        SuspiciousActivityNoticed(
            notice_id=notice_id, account_id=account_id, username=name, signal=signal,
            count=count, window_seconds=int(window.total_seconds()), indicator=indicator),
        account_id, occurred_at=now)])
    await conn.execute("INSERT INTO messaging.notices VALUES ($1, $2, $3, $4, $5, $6)",
                       notice_id, account_id, signal, count, indicator, now)
    log.info("messaging.suspicious_activity", notice_id=notice_id, signal=signal, count=count)


async def after_message(conn: asyncpg.Connection, ctx: Context, sender: str, recipient: str,
                        body: str, verdict: Verdict, now: datetime) -> None:
    """Count the text's recipients and any blocked link domains of one message."""
    digest = ctx.index.digest("message-text", normalised(body))
    await conn.execute("INSERT INTO messaging.text_hashes VALUES ($1, $2, $3, $4)",
                       sender, digest, recipient, now)
    recipients = await conn.fetchval(
        "SELECT count(DISTINCT recipient_id) FROM messaging.text_hashes "
        "WHERE sender_id = $1 AND digest = $2 AND at > $3", sender, digest, now - TEXT_WINDOW)
    if recipients >= ctx.settings.same_text_recipients:
        await _notice(conn, ctx, sender, "same_text_to_many", recipients, TEXT_WINDOW, now)
    if verdict.outcome == "delivered":
        return
    domains = sorted({i for r in verdict.reasons if r.detector == "phishing"
                      for i in r.indicators})
    for domain in domains:
        await conn.execute("INSERT INTO messaging.blocked_domains VALUES ($1, $2, $3)",
                           sender, domain, now)
        times = await conn.fetchval(
            "SELECT count(*) FROM messaging.blocked_domains WHERE sender_id = $1 "
            "AND domain = $2 AND at > $3", sender, domain, now - DOMAIN_WINDOW)
        if times >= ctx.settings.blocked_domain_repeats:
            await _notice(conn, ctx, sender, "blocked_domain_repeated", times, DOMAIN_WINDOW,
                          now, domain)


async def after_conversation(conn: asyncpg.Connection, ctx: Context, starter: str,
                             now: datetime) -> None:
    """Count the conversations one account started lately."""
    started = await conn.fetchval(
        "SELECT count(*) FROM messaging.conversations WHERE started_by = $1 AND started_at > $2",
        starter, now - CONVERSATION_WINDOW)
    if started >= ctx.settings.new_conversations:
        await _notice(conn, ctx, starter, "many_new_conversations", started,
                      CONVERSATION_WINDOW, now)


async def prune(ctx: Context) -> None:
    """Forget counted texts, domains and sends once outside every window (kept no longer)."""
    now = ctx.clock()
    async with ctx.transaction() as conn:
        await conn.execute("DELETE FROM messaging.text_hashes WHERE at <= $1", now - TEXT_WINDOW)
        await conn.execute("DELETE FROM messaging.blocked_domains WHERE at <= $1",
                           now - DOMAIN_WINDOW)
        await conn.execute("DELETE FROM messaging.send_log WHERE at <= $1",
                           now - timedelta(minutes=1))
