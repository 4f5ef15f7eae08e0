"""Staff roles as the retention service knows them, from the accounts service's events."""

from __future__ import annotations

import asyncpg


class StaffRoles:
    """The ``retention.staff_roles`` projection (SEC-2)."""

    async def granted(self, conn: asyncpg.Connection, account_id: str, role: str) -> None:
        """Record a granted role (idempotent)."""
        await conn.execute("INSERT INTO retention.staff_roles VALUES ($1, $2) "
                           "ON CONFLICT DO NOTHING", account_id, role)

    async def revoked(self, conn: asyncpg.Connection, account_id: str, role: str) -> None:
        """Forget a revoked role (idempotent)."""
        await conn.execute("DELETE FROM retention.staff_roles "
                           "WHERE account_id = $1 AND role = $2", account_id, role)

    async def of(self, conn: asyncpg.Connection, account_id: str) -> set[str]:
        """The roles an account holds."""
        rows = await conn.fetch("SELECT role FROM retention.staff_roles WHERE account_id = $1",
                                account_id)
        return {r["role"] for r in rows}
