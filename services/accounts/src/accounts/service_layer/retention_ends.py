"""How the accounts service ends a data category whose period is over (RET-2).

Retention orders it (``kernel.categories``); the subject's rows recorded before the order's
instant go, in the consumer's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from accounts.adapters.repository import Repository
from kernel.categories import CategoryEnder, rows_changed
from kernel.service import Runtime

DEMOGRAPHICS = ("date_of_birth", "gender", "interests")
"""The profile's optional demographic fields (ACC-2): the register's optional_demographics."""


async def end_devices(rt: Runtime, conn: asyncpg.Connection, subject_id: str, action: str,
                      before: datetime) -> tuple[bool, str]:
    """Device registrations (push tokens, device ids) made before ``before``: deleted."""
    n = rows_changed(await conn.execute(
        "DELETE FROM accounts.devices WHERE account_id = $1 AND registered_at < $2",
        subject_id, before))
    return n > 0, f"{n} device registration(s) deleted" if n else "no devices past the period"


async def end_demographics(rt: Runtime, conn: asyncpg.Connection, subject_id: str,
                           action: str, before: datetime) -> tuple[bool, str]:
    """The member's optional demographics, unused for the register's period: cleared from
    the profile (the events' values end with the category's keys, which retention destroys).
    The period runs from the last use, so every value of the category is past it."""
    row = await conn.fetchrow(
        "SELECT profile FROM accounts.accounts WHERE account_id = $1 FOR UPDATE", subject_id)
    repo = Repository(conn, rt.store, rt.keys, rt.index)
    profile = await repo.open(subject_id, "profile", row["profile"]) if row else None
    cleared = [name for name in DEMOGRAPHICS if profile and profile.get(name) is not None]
    if profile is None or not cleared:
        return False, "no optional demographics held"
    profile.update(dict.fromkeys(cleared))
    await conn.execute("UPDATE accounts.accounts SET profile = $2 WHERE account_id = $1",
                       subject_id, await repo.seal(subject_id, "profile", profile))
    return True, f"optional field(s) cleared from the profile: {', '.join(cleared)}"


ENDERS: dict[str, CategoryEnder] = {"device": end_devices,
                                    "optional_demographics": end_demographics}
"""Every category the accounts service keeps a projection of, and how it ends there."""
