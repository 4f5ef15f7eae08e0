"""Throttled attempts: counted before the work, refunded when the work succeeded (issue 26).

A guess is counted under the account and the client address before argon2 runs, in one
statement (:mod:`kernel.attempts`), so parallel guesses cannot all slip past the count.
"""

from __future__ import annotations

from accounts.domain.errors import TooManyAttempts
from accounts.service_layer.context import Context
from kernel.attempts import Limit, Taken
from kernel.logs import get_logger

log = get_logger(__name__)


def address_key(ctx: Context, purpose: str, address: str | None) -> bytes:
    """The blind index a client address is counted under for ``purpose``."""
    return ctx.index.digest(f"{purpose}-address", address or "")


def guess_keys(ctx: Context, account_key: bytes, purpose: str,
               address: str | None) -> list[tuple[bytes, Limit]]:
    """The keys a password guess is counted under: the account and the client address."""
    t = ctx.throttle
    return [(account_key, Limit(t.per_account, t.window)),
            (address_key(ctx, purpose, address), Limit(t.per_address, t.window))]


async def attempt(ctx: Context, keys: list[tuple[bytes, Limit]], what: str) -> Taken:
    """Count one attempt under ``keys``; ``TooManyAttempts`` when any of them is full."""
    taken = await ctx.attempts.take(ctx.pool, keys, ctx.clock())
    if taken.retry_after is not None:
        log.warning("accounts.throttled", attempt=what, retry_after=taken.retry_after)
        raise TooManyAttempts(f"too many {what} attempts; try again later", taken.retry_after)
    return taken


async def succeeded(ctx: Context, taken: Taken, owner_key: bytes) -> None:
    """The password was right: its owner's count is cleared, the address's one given back.

    Only the address's own attempt is refunded, so logging in to an account one holds
    does not buy guesses at other accounts from the same address.
    """
    await ctx.attempts.clear(ctx.pool, owner_key)
    await ctx.attempts.refund(ctx.pool, Taken(None, tuple(
        (key, ends) for key, ends in taken.counted if key != owner_key)))


async def unanswered(ctx: Context, taken: Taken) -> None:
    """The attempt failed before the password was judged (the database went away, a bug):
    it is given back, best effort, so that outages do not lock members out."""
    try:
        await ctx.attempts.refund(ctx.pool, taken)
    except Exception as exc:  # the database that failed the attempt may fail this too
        log.warning("accounts.attempt_not_refunded", error=type(exc).__name__)
