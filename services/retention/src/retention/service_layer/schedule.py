"""The retention schedule's sweep (RET-2, RET-3, RET-4, RET-7): what a clock has ended.

Reads the subject projection and the holds in two set-based queries and decides per
(subject, category) with the pure rules of ``domain/schedule.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import asyncpg

from retention.adapters import lifecycle
from retention.domain.register import DataRegister
from retention.domain.schedule import Decision, due


async def sweep(conn: asyncpg.Connection, register: DataRegister, now: datetime,
                consented: Mapping[str, frozenset[str]] | None = None,
                ) -> list[tuple[str, Decision]]:
    """Every (subject, decision) whose register period has ended by ``now``.

    Only data collected at least the shortest period ago can be due, so older rows alone
    are read. ``consented`` maps a subject to the consent purposes it granted (RET-3).
    """
    shortest = min(e.retention_days for e in register.entries.values())
    uses = await lifecycle.candidates(conn, list(register.entries),
                                      now - timedelta(days=shortest))
    held = await lifecycle.holds_of(conn, list(uses))
    granted = consented or {}
    return [(subject, d) for subject, cats in uses.items()
            for d in due(register, cats, now, consented=granted.get(subject, frozenset()),
                         holds=held.get(subject, []))]
