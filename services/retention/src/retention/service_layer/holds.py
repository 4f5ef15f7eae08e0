"""Legal holds (RET-4): placed and released by staff or by disputes (SEC-3).

While a subject has an active hold on all its data, or on a category sealed under the
subject's own key, an erasure request waits as ``verified`` with the hold named in its
``exceptions``; releasing the last such hold starts the waiting erasures. A hold on a
category sealed under keys of its own (``expiring`` fields) lets the erasure go ahead and
keeps that category's keys, so the held values stay readable in the log for the holder,
until the hold is released.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from contracts.privacy import ERASURE_SERVICES, LegalHoldPlaced
from kernel.eventstore import EventStore
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters import holds
from retention.adapters.requests import RequestRepository
from retention.service_layer.handlers import shred_keys

log = get_logger(__name__)


async def place_hold(conn: asyncpg.Connection, store: EventStore, subject_id: str,
                     category: str | None, reason: str, authority: str, case_reference: str,
                     placed_by: str, now: datetime, hold_id: str | None = None) -> str:
    """Freeze a subject's data (or one category) from deletion; returns the hold's id."""
    hold = LegalHoldPlaced(
        hold_id=hold_id or str(uuid.uuid4()), subject_id=subject_id, category=category,
        reason=reason, authority=authority, case_reference=case_reference, placed_by=placed_by,
    )
    async with conn.transaction():
        if await holds.place(conn, store, hold, now):
            log.info("privacy.legal_hold_placed", hold_id=hold.hold_id, placed_by=placed_by)
    return hold.hold_id


async def release_hold(conn: asyncpg.Connection, store: EventStore, repo: RequestRepository,
                       keys: KeyStore, hold_id: str, by: str, now: datetime) -> bool:
    """End a hold (RET-4). With the last hold that kept the subject's erasure waiting gone,
    the waiting erasures start (PRV-5); an erased subject's keys of a category that only
    this hold kept are destroyed now.

    Returns:
        Whether an active hold was released.
    """
    async with conn.transaction():
        released = await holds.release(conn, store, hold_id, by, now)
        if released is None:
            return False
        subject, category = released
        log.info("privacy.legal_hold_released", hold_id=hold_id, released_by=by)
        waiting, keep = await holds.for_erasure(conn, subject)
        if category is not None and category not in keep and await keys.is_erased(subject):
            # destroyed again, keeping only what other holds keep: the erasure journal
            # records it, so a restore does not bring the released category's keys back
            await keys.destroy(subject, keep)
            log.info("privacy.kept_keys_destroyed", hold_id=hold_id, category=category)
        if waiting:
            return True
        waiting_requests = await conn.fetch(
            "SELECT request_id FROM retention.privacy_requests WHERE subject_id = $1 "
            "AND type = 'erasure' AND status = 'verified' ORDER BY received_at", subject)
        started = []
        for row in waiting_requests:
            req = await repo.get(conn, row["request_id"])
            if req is None:
                continue
            req.start_erasure(ERASURE_SERVICES, now)
            await repo.save(conn, req)
            started.append(req)
            log.info("privacy.held_erasure_started", request_id=req.request_id)
        if started:
            await shred_keys(conn, keys, started, keep)
    return True
