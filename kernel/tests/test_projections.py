"""Registered projection tables are all cleared on erasure, one statement each (PRV-5)."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.projections import NOTHING_HELD, ProjectionTable, delete_subject_rows, describe

pytestmark = pytest.mark.unit


class RecordingConnection:
    """Answers ``fetchval`` with a row count per table and records every statement."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts = counts or {}
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchval(self, sql: str, *args: Any) -> int:
        self.statements.append((sql, args))
        return next((n for table, n in self.counts.items() if f".{table} " in sql), 0)


TABLES = (
    ProjectionTable("a", "CREATE TABLE IF NOT EXISTS svc.a (s text)", "s"),
    ProjectionTable("b", "CREATE TABLE IF NOT EXISTS svc.b (owner text)", "owner"),
    ProjectionTable("purposes", "CREATE TABLE IF NOT EXISTS svc.purposes (p text)", None),
)


async def test_prv5_each_subject_table_is_cleared_in_one_statement() -> None:
    conn = RecordingConnection({"b": 3})
    deleted = await delete_subject_rows(conn, "svc", "subject-1", TABLES)  # type: ignore[arg-type]
    assert deleted == {"b": 3}
    assert [args for _, args in conn.statements] == [("subject-1",), ("subject-1",)]
    assert "DELETE FROM svc.a WHERE s = $1" in conn.statements[0][0]
    assert "DELETE FROM svc.b WHERE owner = $1" in conn.statements[1][0]


def test_prv5_receipt_detail_names_tables_and_counts_only() -> None:
    assert describe({"b": 3, "a": 1}) == (True, "deleted 1 row(s) from a, 3 row(s) from b")
    assert describe({}) == (False, NOTHING_HELD)
