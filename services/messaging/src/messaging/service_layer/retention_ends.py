"""How the messaging service ends a data category whose period is over (RET-2).

Message bodies already expire by the month of their key (``expiry``); an order from
retention also drops the body tokens of the member's own messages posted before its
instant, and of the send log kept for abuse signals, in the consumer's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kernel.categories import CategoryEnder, rows_changed
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
    held = bool(bodies or hashes)
    return held, (f"{bodies} message bod(ies) and {hashes} text hash(es) dropped" if held
                  else "no messages past the period")


ENDERS: dict[str, CategoryEnder] = {"messages": end_messages}
"""Every category the messaging service keeps a projection of, and how it ends there."""
