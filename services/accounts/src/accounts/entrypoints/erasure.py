"""The accounts eraser: the member can no longer log in and nothing of them stays readable."""

from __future__ import annotations

import asyncpg

from accounts.adapters.repository import Repository, stream_of
from contracts.accounts import AccountErased
from kernel.eventstore import NewEvent
from kernel.service import Runtime


async def erase_account(rt: Runtime, conn: asyncpg.Connection, subject_id: str) -> tuple[bool, str]:
    """Delete the login index, sessions, devices, links and the sealed blob (PRV-5).

    ``AccountErased`` carries no personal data, so appending it needs no key: the
    subject's key is already destroyed.
    """
    repo = Repository(conn, rt.store, rt.keys, rt.index)
    counts = await repo.erase(subject_id)
    if not any(counts.values()):
        return False, "no account data held"
    stream = stream_of(subject_id)
    head = await rt.store.head(conn, stream)
    await rt.store.append(conn, stream, head, [NewEvent(AccountErased(account_id=subject_id),
                                                        subject_id)])
    detail = ", ".join(f"{table}: {n}" for table, n in counts.items())
    return True, f"deleted rows ({detail})"
