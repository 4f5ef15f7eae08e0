"""PRV-5, RET-2 (issue 15): an account idle for the register's period is warned through the
contact guard's transactional path, and erased (an erasure request of channel ``system``)
when the warning goes unanswered; a log-in after the warning keeps it.

The member's last log-in and warning are moved into the past in the database, instead of
moving the clock, so that no other account of the session's platform is touched; the sweep
then runs with the real clock, as the accounts service runs it every hour.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from members import Member, log_in, sign_up
from stack import Infra, eventually

from accounts.bootstrap import standalone
from accounts.service_layer.idle import sweep_idle

pytestmark = pytest.mark.e2e

IDLE, WARNING = timedelta(days=730), timedelta(days=30)


async def _sql(infra: Infra, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _sweep() -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        async with standalone() as ctx:
            return await sweep_idle(ctx, datetime.now(UTC), IDLE, WARNING)
    return asyncio.run(go())


def _events(infra: Infra, m: Member, event_type: str) -> int:
    rows = asyncio.run(_sql(infra, "SELECT count(*) AS n FROM accounts.events "
                                   "WHERE subject_id = $1 AND event_type = $2",
                            m.account_id, event_type))
    return int(rows[0]["n"])


def _idle_since(infra: Infra, m: Member, days: int) -> None:
    asyncio.run(_sql(infra, "UPDATE accounts.accounts SET last_login_at = now() - $2::interval "
                            "WHERE account_id = $1", m.account_id, timedelta(days=days)))


def test_prv5_an_idle_account_is_warned_then_erased_when_the_warning_goes_unanswered(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "idle")
    time.sleep(1)  # the account reaches every service first
    _idle_since(infra, m, 800)
    warned, _ = _sweep()
    assert warned >= 1
    assert _events(infra, m, "accounts.IdleAccountWarned") == 1
    tasks = asyncio.run(_sql(infra, "SELECT purpose, channel FROM accounts.comm_outbox "
                                    "WHERE subject_id = $1", m.account_id))
    assert [(t["purpose"], t["channel"]) for t in tasks] == [("service_messages", "email")]
    _sweep()  # a second look warns no one twice
    assert _events(infra, m, "accounts.IdleAccountWarned") == 1
    assert _events(infra, m, "accounts.IdleAccountErasureDue") == 0

    asyncio.run(_sql(infra, "UPDATE accounts.accounts SET idle_warned_at = now() - "
                            "'31 days'::interval WHERE account_id = $1", m.account_id))
    _, due = _sweep()
    assert due >= 1 and _events(infra, m, "accounts.IdleAccountErasureDue") == 1

    def erased() -> None:
        rows = asyncio.run(_sql(infra, "SELECT channel, status FROM retention.privacy_requests "
                                       "WHERE subject_id = $1 AND type = 'erasure'",
                                m.account_id))
        assert [(r["channel"], r["status"]) for r in rows] == [("system", "completed")], rows

    eventually(erased, timeout=60)
    got = client.post("/v1/sessions", json={"email": m.email, "password": m.password,
                                            "remember_me": False})
    assert got.status_code == 401, got.text


def test_prv5_a_log_in_after_the_warning_keeps_the_account(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "idlereturns")
    _idle_since(infra, m, 800)
    _sweep()
    assert _events(infra, m, "accounts.IdleAccountWarned") == 1
    log_in(client, m)  # the member comes back: the warning lapses
    asyncio.run(_sql(infra, "UPDATE accounts.accounts SET last_login_at = now() - "
                            "'40 days'::interval WHERE account_id = $1", m.account_id))
    _sweep()
    assert _events(infra, m, "accounts.IdleAccountErasureDue") == 0
    assert client.get("/v1/me", headers=m.auth).status_code == 200
