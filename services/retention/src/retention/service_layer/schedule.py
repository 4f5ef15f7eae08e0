"""The retention schedule's sweep (RET-2, RET-3, RET-4, RET-7): what a clock has ended.

Reads the subject projection and the holds in two set-based queries and decides per
(subject, category) with the pure rules of ``domain/schedule.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta

import asyncpg

from contracts.privacy import ERASURE_SERVICES, CategoryRetentionEnded
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters import lifecycle
from retention.adapters.register import scoped_categories
from retention.adapters.requests import RequestRepository
from retention.domain.register import DataRegister
from retention.domain.schedule import Decision, due
from retention.service_layer import handlers

log = get_logger(__name__)


async def sweep(conn: asyncpg.Connection, register: DataRegister, now: datetime,
                consented: Mapping[str, frozenset[str]] | None = None,
                subjects: Collection[str] | None = None) -> list[tuple[str, Decision]]:
    """Every (subject, decision) whose register period has ended by ``now``.

    Only data collected at least the shortest period ago can be due, so older rows alone
    are read. ``consented`` maps a subject to the consent purposes it granted (RET-3);
    when omitted, as in the running service, the consents in effect are read from the
    contact guard's projection of the consent ledger. ``subjects`` narrows the sweep to
    those members (a DPO's or a test's run for some members only).
    """
    shortest = min(e.retention_days for e in register.entries.values())
    uses = await lifecycle.candidates(conn, list(register.entries),
                                      now - timedelta(days=shortest))
    if subjects is not None:
        uses = {s: u for s, u in uses.items() if s in subjects}
    held = await lifecycle.holds_of(conn, list(uses))
    granted = (consented if consented is not None
               else await lifecycle.consented_of(conn, list(uses)))
    closed = await lifecycle.closed_of(conn, list(uses))
    return [(subject, d) for subject, cats in uses.items()
            for d in due(register, cats, now, account_closed_at=closed.get(subject),
                         consented=granted.get(subject, frozenset()),
                         holds=held.get(subject, []))]


def _key_expiry(register: DataRegister, category: str) -> bool:
    """Whether the category ends by destroying its shared monthly keys (KeyStore.expire):
    counted from collection, with no longer period a member may consent to."""
    entry = register.entry(category)
    return entry.retention_from == "collected" and entry.max_with_consent_days is None


def _recorded_before(register: DataRegister, category: str, now: datetime) -> datetime:
    """Values of a category counted from collection are past their period when recorded
    before ``now`` less the period; of the others, every value is."""
    entry = register.entry(category)
    return now - entry.retention if entry.retention_from == "collected" else now


def orders_for(register: DataRegister, taken: Sequence[tuple[str, Decision]],
               now: datetime) -> list[CategoryRetentionEnded]:
    """The orders every service carries out for the decisions taken (RET-2, RET-6).

    One per (subject, category, period end): a repeated sweep issues the same order id.
    """
    out = []
    for subject, d in taken:
        if d.action == "held":
            continue
        before = _recorded_before(register, d.category, now)
        order_id = str(uuid.uuid5(_ORDERS, f"{subject}|{d.category}|{d.period_ended_at}"))
        out.append(CategoryRetentionEnded(
            order_id=order_id, subject_id=subject, category=d.category, action=d.action,
            recorded_before=before, services=list(ERASURE_SERVICES)))
    return out


MONTH_DAYS = 31
"""Longest month: a monthly key whose month began before an instant ends by this after it."""


_ORDERS = uuid.UUID("6f1d3c52-8b0e-4d4a-9a53-2f6c0e7b9d11")
"""Namespace of the schedule's order ids (uuid5)."""


async def run(conn: asyncpg.Connection, keys: KeyStore, register: DataRegister,
              now: datetime, consented: Mapping[str, frozenset[str]] | None = None,
              store: EventStore | None = None, requests: RequestRepository | None = None,
              subjects: Collection[str] | None = None) -> list[tuple[str, Decision]]:
    """Sweep (``subjects`` only, when given) and carry out: destroy ended category keys,
    note every decision and order every service to end the category in its projections
    (RET-2, RET-6, RET-7).

    A category erased by the schedule loses its category-scoped keys of every month whose
    period has ended (``KeyStore.expire``), only where that period is the same for every
    member: counted from collection, with no longer period one may consent to. The orders
    (``CategoryRetentionEnded``, appended with the decisions in one transaction when a
    ``store`` is given) reach the values the services keep in plaintext projections.
    """
    decided = await sweep(conn, register, now, consented, subjects)
    # Keys of a month are shared by its members: while one member's category is held, no
    # member's key of it is destroyed, and their erasures wait for the next sweep.
    held = {d.category for _, d in decided if d.action == "held"}
    for category in sorted({d.category for _, d in decided if d.action == "erase"} - held):
        if _key_expiry(register, category) and subjects is None:  # shared by every member
            entry = register.entry(category)
            destroyed = await keys.expire(category, now - entry.retention)
            log.info("retention.schedule_keys_expired", category=category, keys=destroyed)
    taken = [(s, d) for s, d in decided
             if not (d.action == "erase" and d.category in held
                     and _key_expiry(register, d.category))]
    # Identity and contact data, kept for a period after the account closed, end with the
    # account: the subject is erased as a whole, like the member's own request (PRV-5).
    closing = {s for s, d in taken if d.action == "erase"
               and register.entry(d.category).retention_from == "account_closed"}
    ordered = [(s, d) for s, d in taken if s not in closing]
    orders = orders_for(register, ordered, now) if store is not None else []
    if requests is not None:
        for subject in sorted(closing):
            await handlers.erase_by_system(conn, requests, keys, subject, now,
                                           "closed account's period ended")
    # Values of a category sealed under per-subject monthly keys (``expiring`` fields) end
    # in the event stores, Kafka and backups too: the subject's keys of every month begun
    # before the instant are destroyed (no value outlives its period, as message bodies).
    for subject, d in ordered:
        if d.action != "held" and d.category in scoped_categories():
            before = _recorded_before(register, d.category, now) + timedelta(days=MONTH_DAYS)
            await keys.expire(d.category, before, subject)
    async with conn.transaction():
        await lifecycle.record(conn, taken, now)
        await lifecycle.advance(conn, [(s, d.category, _recorded_before(register, d.category,
                                                                        now))
                                       for s, d in taken if d.action != "held"])
        if store is not None and orders:
            recs = []
            for order in orders:
                recs += await store.encode(f"category-order-{order.order_id}", StreamHead(),
                                           [NewEvent(order, order.subject_id)])
            await store.append_encoded(conn, recs)
    for action in ("erase", "pseudonymise", "held"):
        count = sum(1 for _, d in taken if d.action == action)
        if count:
            log.info("retention.schedule_action_taken", action=action, count=count)
    return taken


async def loop(pool: asyncpg.Pool, keys: KeyStore, register: DataRegister, every: float,
               clock: Callable[[], datetime], stopped: Callable[[], bool],
               store: EventStore | None = None, requests: RequestRepository | None = None,
               ) -> None:
    """Sweep every ``every`` seconds on ``clock`` (tests move it) until ``stopped()``."""
    step = min(0.5, every)
    while not stopped():
        try:
            async with pool.acquire() as conn:
                await run(conn, keys, register, clock(), store=store, requests=requests)
        except Exception as exc:  # PostgreSQL down: try again next round
            log.warning("retention.schedule_failed", error=type(exc).__name__)
        for _ in range(max(1, round(every / step))):  # wake often enough to stop
            if stopped():
                return
            await asyncio.sleep(step)
