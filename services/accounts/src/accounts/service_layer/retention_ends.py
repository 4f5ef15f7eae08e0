"""How the accounts service ends a data category whose period is over (RET-2).

Retention orders it (``kernel.categories``); the subject's rows recorded before the order's
instant go, in the consumer's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kernel.categories import CategoryEnder, rows_changed
from kernel.service import Runtime


async def end_devices(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                      before: datetime) -> tuple[bool, str]:
    """Device registrations (push tokens, device ids) made before ``before``: deleted."""
    n = rows_changed(await conn.execute(
        "DELETE FROM accounts.devices WHERE account_id = $1 AND registered_at < $2",
        subject_id, before))
    return n > 0, f"{n} device registration(s) deleted" if n else "no devices past the period"


ENDERS: dict[str, CategoryEnder] = {"device": end_devices}
"""Every category the accounts service keeps a projection of, and how it ends there."""
