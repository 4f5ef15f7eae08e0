"""Legal holds (RET-4): placed and released by staff or by disputes (SEC-3).

While a subject has an active hold, an erasure request waits as ``verified`` with the hold
named in its ``exceptions``; releasing the last hold starts the waiting erasures.
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
    """End a hold; with the subject's last hold gone, its waiting erasures start (PRV-5).

    Returns:
        Whether an active hold was released.
    """
    async with conn.transaction():
        subject = await holds.release(conn, store, hold_id, by, now)
        if subject is None:
            return False
        log.info("privacy.legal_hold_released", hold_id=hold_id, released_by=by)
        if await holds.active(conn, subject):
            return True
        waiting = await conn.fetch(
            "SELECT request_id FROM retention.privacy_requests WHERE subject_id = $1 "
            "AND type = 'erasure' AND status = 'verified' ORDER BY received_at", subject)
        for row in waiting:
            req = await repo.get(conn, row["request_id"])
            if req is None:
                continue
            req.start_erasure(ERASURE_SERVICES, now)
            await repo.save(conn, req)
            log.info("privacy.held_erasure_started", request_id=req.request_id)
        if waiting:
            await keys.destroy(subject)
    return True
