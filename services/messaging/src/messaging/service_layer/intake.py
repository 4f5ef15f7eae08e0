"""Abuse and vulnerability report intake (SEC-5): signed in or not, rate-limited per source.

A report's text and contact are sealed under the reporter's key, or, for an anonymous
report, under a key of the report itself. The source (account, or client address) is
counted by a keyed hash only.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from contracts.messaging import ReportReceived
from kernel.eventstore import NewEvent, StreamHead
from kernel.logs import get_logger
from messaging.domain import rules
from messaging.service_layer.context import Context, sealed

log = get_logger(__name__)

WINDOW = timedelta(hours=1)


async def receive(kind: str, text: str, contact: str | None, reporter: str | None,
                  address: str | None, ctx: Context) -> str:
    """Take a report in, or refuse past the source's hourly limit (429, Retry-After)."""
    now = ctx.clock()
    source = ctx.index.digest("report-source", f"account:{reporter}" if reporter
                              else f"address:{address or 'unknown'}")
    report_id = str(uuid4())
    subject = reporter or f"report-{report_id}"
    async with ctx.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('messaging-intake'), "
                           "get_byte($1, 0) * 256 + get_byte($1, 1))", source)
        times = [r["at"] for r in await conn.fetch(
            "SELECT at FROM messaging.intake_log WHERE source = $1 AND at > $2",
            source, now - WINDOW)]
        rules.check_rate(times, now, ctx.settings.reports_per_hour, WINDOW)
        await conn.execute("DELETE FROM messaging.intake_log WHERE at <= $1", now - WINDOW)
        await conn.execute("INSERT INTO messaging.intake_log VALUES ($1, $2)", source, now)
        [rec] = await ctx.store.append(conn, f"report-{report_id}", StreamHead(), [NewEvent(
            ReportReceived(report_id=report_id, kind=kind,
                           reporter_id=reporter, text=text, contact=contact),
            subject, occurred_at=now)])
        await conn.execute(
            "INSERT INTO messaging.reports (report_id, kind, subject_id, reporter_id, event_id, "
            "text_field, text_token, contact_token, status, received_at) VALUES ($1, $2, $3, "
            "$4, $5, 'text', $6, $7, 'received', $8)", report_id, kind, subject, reporter,
            rec.event_id, sealed(rec, "text"), sealed(rec, "contact"), now)
    log.info("messaging.report_received", report_id=report_id, kind=kind,
             signed_in=reporter is not None)
    return report_id
