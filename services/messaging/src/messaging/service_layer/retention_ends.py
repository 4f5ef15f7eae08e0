"""How the messaging service ends a data category whose period is over (RET-2).

Message bodies, report notes, dispute summaries and reported texts are sealed under the
subject's monthly keys of their category, which retention destroys when the period ends; an
order from retention also drops the tokens kept here (and the send log's text hashes kept
for abuse signals), in the consumer's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kernel.categories import CategoryEnder, rows_changed
from kernel.pseudonyms import pseudonym
from kernel.service import Runtime


async def end_messages(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                       before: datetime) -> tuple[bool, str]:
    """The member's message bodies posted before ``before``: tokens dropped ("erased")."""
    bodies = rows_changed(await conn.execute(
        "UPDATE messaging.messages SET body_token = NULL "
        "WHERE sender_id = $1 AND posted_at < $2 AND body_token IS NOT NULL",
        subject_id, before))
    hashes = rows_changed(await conn.execute(
        "DELETE FROM messaging.text_hashes WHERE sender_id = $1 AND at < $2",
        subject_id, before))
    notes = rows_changed(await conn.execute(
        "UPDATE messaging.reports SET text_token = NULL WHERE reporter_id = $1 "
        "AND text_field = 'note' AND received_at < $2 AND text_token IS NOT NULL",
        subject_id, before))
    held = bool(bodies or hashes or notes)
    return held, (f"{bodies} message bod(ies), {hashes} text hash(es) and {notes} report "
                  "note(s) dropped" if held else "no messages past the period")


async def end_disputes(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                       before: datetime) -> tuple[bool, str]:
    """Summaries of the disputes about the member opened before ``before``: dropped (the
    dispute's dates, source and resolution stay; they hold nothing of the member)."""
    n = rows_changed(await conn.execute(
        "UPDATE messaging.disputes SET summary_token = NULL WHERE account_id = $1 "
        "AND opened_at < $2 AND summary_token IS NOT NULL", subject_id, before))
    return n > 0, f"{n} dispute summar(ies) dropped" if n else "no disputes past the period"


async def end_security_logs(rt: Runtime, conn: asyncpg.Connection, subject_id: str,
                            action: str, before: datetime) -> tuple[bool, str]:
    """Reports the member made before ``before`` (RET-6): the reported text dropped and the
    reporter replaced by a keyed pseudonym, so counts per reporter still add up."""
    n = rows_changed(await conn.execute(
        "UPDATE messaging.reports SET text_token = NULL, subject_id = $3, reporter_id = "
        "CASE WHEN reporter_id IS NULL THEN NULL ELSE $3 END WHERE subject_id = $1 "
        "AND text_field = 'text' AND received_at < $2", subject_id, before,
        pseudonym(rt.index, "security_logs", subject_id)))
    return n > 0, (f"{n} report(s) pseudonymised, their text dropped" if n
                   else "no reports past the period")


ENDERS: dict[str, CategoryEnder] = {"messages": end_messages, "disputes": end_disputes,
                                    "security_logs": end_security_logs}
"""Every category the messaging service keeps a projection of, and how it ends there."""
