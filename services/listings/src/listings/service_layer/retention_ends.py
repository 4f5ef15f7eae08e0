"""How the listings service ends a data category whose period is over (RET-2, RET-6).

Retention orders it (``kernel.categories``); each function works on the subject's rows
recorded before the order's instant, in the consumer's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kernel.categories import CategoryEnder, rows_changed
from kernel.pseudonyms import pseudonym
from kernel.service import Runtime
from listings.service_layer.listings import end_owner_listings

USAGE = "usage"


async def end_usage(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                    before: datetime) -> tuple[bool, str]:
    """Views and favourites: the member's id replaced by a pseudonym (or the rows gone)."""
    counts = {}
    for table in ("views", "favourites"):
        if action == "pseudonymise":
            status = await conn.execute(
                f"UPDATE listings.{table} SET member_id = $3 "
                f"WHERE member_id = $1 AND at < $2", subject_id, before,
                pseudonym(rt.index, USAGE, subject_id))
        else:
            status = await conn.execute(
                f"DELETE FROM listings.{table} WHERE member_id = $1 AND at < $2",
                subject_id, before)
        counts[table] = rows_changed(status)
    done = "pseudonymised" if action == "pseudonymise" else "deleted"
    held = any(counts.values())
    return held, (", ".join(f"{n} row(s) of {t} {done}" for t, n in counts.items())
                  if held else "no usage rows past the period")


async def end_call_tracking(rt: Runtime, conn: asyncpg.Connection, subject_id: str,
                            action: str, before: datetime) -> tuple[bool, str]:
    """Calls to the member's listings' tracking numbers: deleted (the register erases)."""
    status = await conn.execute(
        "DELETE FROM listings.calls c USING listings.call_numbers n "
        "WHERE n.tracking_number = c.tracking_number AND n.owner_id = $1 AND c.at < $2",
        subject_id, before)
    n = rows_changed(status)
    return n > 0, f"{n} call(s) deleted" if n else "no calls past the period"


async def end_applications(rt: Runtime, conn: asyncpg.Connection, subject_id: str,
                           action: str, before: datetime) -> tuple[bool, str]:
    """The member's applications sent before ``before``, with what they shared: deleted."""
    n = rows_changed(await conn.execute(
        "DELETE FROM listings.applications WHERE applicant_id = $1 AND at < $2",
        subject_id, before))
    return n > 0, f"{n} application(s) deleted" if n else "no applications past the period"


async def end_feedback(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                       before: datetime) -> tuple[bool, str]:
    """The member's feedback given before ``before``: its author replaced by a pseudonym
    (the ratings stay, anonymous aggregates), or the comments gone when erased."""
    if action == "pseudonymise":
        status = await conn.execute(
            "UPDATE listings.feedback_comments c SET author_id = $3 FROM listings.feedback f "
            "WHERE f.feedback_id = c.feedback_id AND c.author_id = $1 AND f.at < $2",
            subject_id, before, pseudonym(rt.index, "feedback", subject_id))
    else:
        status = await conn.execute(
            "DELETE FROM listings.feedback_comments c USING listings.feedback f "
            "WHERE f.feedback_id = c.feedback_id AND c.author_id = $1 AND f.at < $2",
            subject_id, before)
    n = rows_changed(status)
    done = "pseudonymised" if action == "pseudonymise" else "deleted"
    return n > 0, f"{n} feedback comment(s) {done}" if n else "no feedback past the period"


async def end_listings(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                       before: datetime) -> tuple[bool, str]:
    """The author's listings, unused for the register's period: deleted, text and all (the
    events' values end with the category's keys, which retention destroys)."""
    n = await end_owner_listings(conn, rt.extra["ctx"], subject_id, before)
    return n > 0, f"{n} listing(s) deleted" if n else "no listings past the period"


ENDERS: dict[str, CategoryEnder] = {
    USAGE: end_usage, "listings": end_listings, "call_tracking": end_call_tracking,
    "applications": end_applications, "feedback": end_feedback,
}
"""Every category the listings service keeps a projection of, and how it ends there."""
