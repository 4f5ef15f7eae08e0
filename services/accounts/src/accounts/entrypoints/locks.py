"""The account locks of the erasure grace window (PRV-5: grace and undo).

Retention schedules a verified erasure (``ErasureScheduled``) when a grace window is set:
the account locks at once (every session ends, no log-in, the public profile hidden) and
stays so until the key is shredded, or unlocks when the erasure is cancelled
(``ErasureCancelled``) and the member is whole again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from accounts.adapters.repository import Repository
from contracts.privacy import ErasureCancelled, ErasureScheduled
from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.logs import get_logger
from kernel.service import ConsumerSpec, Runtime

log = get_logger(__name__)


def _handler(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        repo = Repository(conn, rt.store, rt.keys, rt.index)
        for item in batch:
            event = item.event
            assert isinstance(event, ErasureScheduled | ErasureCancelled)
            account = await repo.get(event.subject_id, for_update=True)
            if account is None:
                continue  # not an account (a visitor), or already erased
            if isinstance(event, ErasureScheduled):
                sessions = await repo.open_sessions(account.account_id, datetime.now(UTC))
                if account.lock(event.request_id, sessions):
                    await repo.revoke_sessions([s.session_id for s in sessions])
                    await repo.save(account)
                    log.info("accounts.locked_for_erasure", account_id=account.account_id,
                             request_id=event.request_id)
            elif account.unlock(event.request_id):
                await repo.save(account)
                log.info("accounts.unlocked", account_id=account.account_id,
                         request_id=event.request_id)

    return handle


def erasure_locks_consumer() -> ConsumerSpec:
    """Locks an account when its erasure is scheduled, unlocks it when cancelled."""
    return ConsumerSpec(
        name="erasure-locks", topics=[events_topic("retention")], handler=_handler,
        event_types=[ErasureScheduled.event_type, ErasureCancelled.event_type],
    )
