"""The retention schedule's sweep (RET-2, RET-3, RET-4, RET-7): what a clock has ended.

Reads the subject projection and the holds in two set-based queries and decides per
(subject, category) with the pure rules of ``domain/schedule.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import asyncpg

from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters import lifecycle
from retention.domain.register import DataRegister
from retention.domain.schedule import Decision, due

log = get_logger(__name__)


async def sweep(conn: asyncpg.Connection, register: DataRegister, now: datetime,
                consented: Mapping[str, frozenset[str]] | None = None,
                ) -> list[tuple[str, Decision]]:
    """Every (subject, decision) whose register period has ended by ``now``.

    Only data collected at least the shortest period ago can be due, so older rows alone
    are read. ``consented`` maps a subject to the consent purposes it granted (RET-3);
    when omitted, as in the running service, the consents in effect are read from the
    contact guard's projection of the consent ledger.
    """
    shortest = min(e.retention_days for e in register.entries.values())
    uses = await lifecycle.candidates(conn, list(register.entries),
                                      now - timedelta(days=shortest))
    held = await lifecycle.holds_of(conn, list(uses))
    done = await lifecycle.done_of(conn, list(uses))
    granted = (consented if consented is not None
               else await lifecycle.consented_of(conn, list(uses)))
    return [(subject, d) for subject, cats in uses.items()
            for d in due(register, cats, now, consented=granted.get(subject, frozenset()),
                         holds=held.get(subject, []), done=done.get(subject, set()))]


async def run(conn: asyncpg.Connection, keys: KeyStore, register: DataRegister,
              now: datetime, consented: Mapping[str, frozenset[str]] | None = None,
              ) -> list[tuple[str, Decision]]:
    """Sweep and carry out: destroy ended category keys, note every decision (RET-2, RET-7).

    A category erased by the schedule loses its category-scoped keys of every month whose
    period has ended (``KeyStore.expire``), only where that period is the same for every
    member: counted from collection, with no longer period one may consent to.
    """
    decided = await sweep(conn, register, now, consented)
    # Keys of a month are shared by its members: while one member's category is held, no
    # member's key of it is destroyed, and their erasures wait for the next sweep.
    held = {d.category for _, d in decided if d.action == "held"}
    waiting: set[str] = set(held)
    for category in sorted({d.category for _, d in decided if d.action == "erase"} - held):
        entry = register.entry(category)
        if entry.retention_from == "collected" and entry.max_with_consent_days is None:
            destroyed = await keys.expire(category, now - entry.retention)
            log.info("retention.schedule_keys_expired", category=category, keys=destroyed)
        else:
            waiting.add(category)  # no shared key to destroy: the services' order erases it
    taken = [(s, d) for s, d in decided if d.action != "erase" or d.category not in waiting]
    async with conn.transaction():
        await lifecycle.record(conn, taken, now)
    for action in ("erase", "pseudonymise", "held"):
        count = sum(1 for _, d in taken if d.action == action)
        if count:
            log.info("retention.schedule_action_taken", action=action, count=count)
    return taken


async def loop(pool: asyncpg.Pool, keys: KeyStore, register: DataRegister, every: float,
               clock: Callable[[], datetime], stopped: Callable[[], bool]) -> None:
    """Sweep every ``every`` seconds on ``clock`` (tests move it) until ``stopped()``."""
    step = min(0.5, every)
    while not stopped():
        try:
            async with pool.acquire() as conn:
                await run(conn, keys, register, clock())
        except Exception as exc:  # PostgreSQL down: try again next round
            log.warning("retention.schedule_failed", error=type(exc).__name__)
        for _ in range(max(1, round(every / step))):  # wake often enough to stop
            if stopped():
                return
            await asyncio.sleep(step)
