"""Idle accounts (PRV-5, RET-2): warned after the idle period, erased if the warning goes
unanswered.

An account with no log-in for ``idle_days`` (counted from its creation when it never
logged in) is warned once, by e-mail through the contact guard's transactional path
(``service_messages``: needs no marketing consent); a log-in lets the warning lapse. After
``warning_days`` without one, ``IdleAccountErasureDue`` asks retention to erase the account
as if the member had (an erasure request of channel ``system``). Each step takes its rows
with ``FOR UPDATE SKIP LOCKED``, so replicas sweeping at once never warn twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from accounts.service_layer.context import Context
from contracts.accounts import IdleAccountErasureDue, IdleAccountWarned
from kernel.logs import get_logger
from kernel.outbound import queue_message

log = get_logger(__name__)

BATCH = 200

_TO_WARN = """
WITH idle AS (
    SELECT account_id FROM accounts.accounts
    WHERE status = 'active' AND idle_warned_at IS NULL AND idle_due_at IS NULL
      AND coalesce(last_login_at, created_at) < $2
    ORDER BY coalesce(last_login_at, created_at) LIMIT $3 FOR UPDATE SKIP LOCKED
)
UPDATE accounts.accounts a SET idle_warned_at = $1 FROM idle
WHERE a.account_id = idle.account_id RETURNING a.account_id, a.last_login_at
"""

_DUE = """
WITH due AS (
    SELECT account_id FROM accounts.accounts
    WHERE status = 'active' AND idle_due_at IS NULL AND idle_warned_at < $2
    ORDER BY idle_warned_at LIMIT $3 FOR UPDATE SKIP LOCKED
)
UPDATE accounts.accounts a SET idle_due_at = $1 FROM due
WHERE a.account_id = due.account_id RETURNING a.account_id, a.idle_warned_at
"""


async def sweep_idle(ctx: Context, now: datetime, idle: timedelta,
                     warning: timedelta) -> tuple[int, int]:
    """One look: warn the accounts idle for ``idle``, and hand to retention those warned
    longer than ``warning`` ago without a log-in since. Returns (warned, handed over)."""
    async with ctx.transaction() as repo:
        warned = await repo.conn.fetch(_TO_WARN, now, now - idle, BATCH)
        for row in warned:
            account = await repo.get(row["account_id"])
            if account is None:
                continue
            erase_after = now + warning
            account.events.append(IdleAccountWarned(
                account_id=account.account_id, last_login_at=row["last_login_at"],
                erase_after=erase_after))
            await queue_message(
                repo.conn, "accounts", repo.keys, account.account_id, "service_messages",
                "email", account.profile.email, "Your account will be erased",
                "You have not logged in for a long time. Your account and everything in it "
                f"will be erased after {erase_after:%Y-%m-%d} unless you log in before then.")
            await repo.publish(account)
    async with ctx.transaction() as repo:
        due = await repo.conn.fetch(_DUE, now, now - warning, BATCH)
        for row in due:
            account = await repo.get(row["account_id"])
            if account is None:
                continue
            account.events.append(IdleAccountErasureDue(account_id=account.account_id,
                                                        warned_at=row["idle_warned_at"]))
            await repo.publish(account)
    if warned or due:
        log.info("accounts.idle_sweep", warned=len(warned), erasures_due=len(due))
    return len(warned), len(due)


async def sweep_forever(ctx: Context, every: float, idle: timedelta, warning: timedelta,
                        stopped: Callable[[], bool]) -> None:
    """Sweep every ``every`` seconds until ``stopped()``; a failed look waits for the next."""
    while not stopped():
        try:
            await sweep_idle(ctx, datetime.now(UTC), idle, warning)
        except Exception as exc:  # PostgreSQL down: the next look tries again
            log.warning("accounts.idle_sweep_failed", error=type(exc).__name__)
        waited = 0.0
        while waited < every and not stopped():
            await asyncio.sleep(min(1.0, every))
            waited += 1.0
