"""What the schedule reads (RET-2): each subject's categories and holds, set-based."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from contracts.privacy import CategoryRetentionReceipt
from retention.domain.schedule import CategoryUse, Decision, Hold

_USES = """
SELECT subject_id, category, min(first_seen) AS collected, max(last_seen) AS used
FROM retention.subject_data
WHERE category = ANY($1::text[])
GROUP BY subject_id, category
HAVING min(first_seen) <= $2
ORDER BY subject_id, category
"""


async def candidates(conn: asyncpg.Connection, categories: Sequence[str],
                     collected_before: datetime) -> dict[str, list[CategoryUse]]:
    """Per subject, its categories collected by ``collected_before`` (one query).

    Collection and last use are taken across every service that holds the category.
    """
    out: dict[str, list[CategoryUse]] = defaultdict(list)
    for r in await conn.fetch(_USES, list(categories), collected_before):
        out[r["subject_id"]].append(CategoryUse(r["category"], r["collected"], r["used"]))
    return dict(out)


async def holds_of(conn: asyncpg.Connection, subjects: Sequence[str]) -> dict[str, list[Hold]]:
    """The active holds of each of ``subjects`` (one query)."""
    out: dict[str, list[Hold]] = defaultdict(list)
    for r in await conn.fetch(
            "SELECT subject_id, hold_id, category FROM retention.legal_holds "
            "WHERE subject_id = ANY($1::text[]) AND released_at IS NULL ORDER BY placed_at",
            list(subjects)):
        out[r["subject_id"]].append(Hold(r["hold_id"], r["category"]))
    return dict(out)


async def closed(conn: asyncpg.Connection, closures: Sequence[tuple[str, datetime]]) -> None:
    """Note account closures (the first one counts)."""
    if closures:
        await conn.execute(
            "INSERT INTO retention.closed_accounts SELECT * FROM unnest($1::text[], "
            "$2::timestamptz[]) ON CONFLICT (subject_id) DO NOTHING",
            [s for s, _ in closures], [at for _, at in closures])


async def closed_of(conn: asyncpg.Connection, subjects: Sequence[str]) -> dict[str, datetime]:
    """When each of ``subjects`` closed its account, for those that did (one query)."""
    rows = await conn.fetch("SELECT subject_id, closed_at FROM retention.closed_accounts "
                            "WHERE subject_id = ANY($1::text[])", list(subjects))
    return {r["subject_id"]: r["closed_at"] for r in rows}


async def consented_of(conn: asyncpg.Connection,
                       subjects: Sequence[str]) -> dict[str, frozenset[str]]:
    """The consent purposes each of ``subjects`` has in effect now (RET-3), one query.

    Read from the contact guard's projection of the consent ledger in retention's own
    schema (kernel.guard): a withdrawal there ends a longer period at the next sweep.
    """
    if not subjects or await conn.fetchval(
            "SELECT to_regclass('retention.guard_consents')") is None:
        return {}
    out: dict[str, set[str]] = defaultdict(set)
    for r in await conn.fetch(
            "SELECT subject_id, purpose FROM retention.guard_consents "
            "WHERE subject_id = ANY($1::text[]) AND granted", list(subjects)):
        out[r["subject_id"]].add(r["purpose"])
    return {s: frozenset(p) for s, p in out.items()}


DDL = """
CREATE TABLE IF NOT EXISTS retention.schedule_actions (
    subject_id      text        NOT NULL,
    category        text        NOT NULL,
    action          text        NOT NULL,
    hold_id         text,
    period_ended_at timestamptz NOT NULL,
    taken_at        timestamptz NOT NULL,
    PRIMARY KEY (subject_id, category)
);
CREATE TABLE IF NOT EXISTS retention.closed_accounts (
    subject_id text PRIMARY KEY,
    closed_at  timestamptz NOT NULL
);
COMMENT ON TABLE retention.closed_accounts IS
  'When each account was closed (accounts.AccountClosed): the start of the periods of its '
  'identity and contact data (RET-2, RET-7).';
CREATE TABLE IF NOT EXISTS retention.category_receipts (
    order_id    text        NOT NULL,
    subject_id  text        NOT NULL,
    category    text        NOT NULL,
    service     text        NOT NULL,
    action      text        NOT NULL,
    held_data   boolean     NOT NULL,
    detail      text        NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, service)
);
CREATE INDEX IF NOT EXISTS category_receipts_subject_idx
    ON retention.category_receipts (subject_id, category);
COMMENT ON TABLE retention.category_receipts IS
  'Each service''s receipt for a category the schedule ended (RET-2, RET-6); no personal data.';
COMMENT ON TABLE retention.schedule_actions IS
  'What the retention schedule did per subject and category (RET-2, RET-6, RET-7); a held '
  'category is noted and retried once its hold is released.';
"""


async def migrate(conn: asyncpg.Connection) -> None:
    """Create the schedule's table (idempotent)."""
    await conn.execute(DDL)


async def advance(conn: asyncpg.Connection,
                  ended: Sequence[tuple[str, str, datetime]]) -> None:
    """What retention knows of each ended ``(subject, category, recorded_before)``: the
    values recorded before the instant are gone, so the category is held again only by
    what came later (RET-2). Its next period counts from a day after the instant at the
    earliest: later values end a day late at most, and a subject gets one order a day.
    """
    if not ended:
        return
    cols = [list(c) for c in zip(*ended, strict=True)]
    await conn.execute(
        "DELETE FROM retention.subject_data d USING unnest($1::text[], $2::text[], "
        "$3::timestamptz[]) AS e(s, c, b) "
        "WHERE d.subject_id = e.s AND d.category = e.c AND d.last_seen < e.b", *cols)
    await conn.execute(
        "UPDATE retention.subject_data d "
        "SET first_seen = least(greatest(d.first_seen, e.b + interval '1 day'), d.last_seen) "
        "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS e(s, c, b) "
        "WHERE d.subject_id = e.s AND d.category = e.c", *cols)


async def record(conn: asyncpg.Connection, taken: Sequence[tuple[str, Decision]],
                 now: datetime) -> None:
    """Note the latest decision per subject and category, one statement."""
    if not taken:
        return
    await conn.execute(
        "INSERT INTO retention.schedule_actions AS a "
        "(subject_id, category, action, hold_id, period_ended_at, taken_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::timestamptz[], $6::timestamptz[]) "
        "ON CONFLICT (subject_id, category) DO UPDATE SET action = excluded.action, "
        "hold_id = excluded.hold_id, period_ended_at = excluded.period_ended_at, "
        "taken_at = excluded.taken_at",
        [s for s, _ in taken], [d.category for _, d in taken], [d.action for _, d in taken],
        [d.hold_id for _, d in taken], [d.period_ended_at for _, d in taken],
        [now] * len(taken))


async def record_receipts(conn: asyncpg.Connection,
                          receipts: Sequence[tuple[CategoryRetentionReceipt, datetime]]) -> None:
    """Keep each service's receipt for an ended category once (one statement)."""
    if not receipts:
        return
    await conn.execute(
        "INSERT INTO retention.category_receipts SELECT * FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], "
        "$8::timestamptz[]) ON CONFLICT (order_id, service) DO NOTHING",
        *(list(c) for c in zip(*[
            (r.order_id, r.subject_id, r.category, r.service, r.action, r.held_data, r.detail,
             at) for r, at in receipts], strict=True)))


async def actions_of(conn: asyncpg.Connection, subject_id: str) -> dict[str, list[dict[str, Any]]]:
    """What the schedule last decided per category of a subject, and every service's
    receipt for the categories it ended, newest first (RET-2, RET-4); no personal data."""
    actions = await conn.fetch(
        "SELECT category, action, hold_id, period_ended_at, taken_at "
        "FROM retention.schedule_actions WHERE subject_id = $1 ORDER BY category", subject_id)
    receipts = await conn.fetch(
        "SELECT order_id, category, service, action, held_data, detail, received_at "
        "FROM retention.category_receipts WHERE subject_id = $1 "
        "ORDER BY received_at DESC, category, service", subject_id)

    def plain(row: asyncpg.Record) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}

    return {"actions": [plain(r) for r in actions], "receipts": [plain(r) for r in receipts]}
