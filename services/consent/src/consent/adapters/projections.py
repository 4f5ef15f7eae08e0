"""The consent service's projection tables: the one place each table is registered.

A feature adds its table to :data:`PROJECTIONS` with its DDL and the column naming its
data subject; the migration creates it and the eraser deletes the subject's rows (PRV-5).
The ledger itself is the event store (crypto-shredded, never deleted); the contact guard's
tables are the kernel's and erased by it.
"""

from __future__ import annotations

from kernel.attempts import AttemptCounter
from kernel.projections import ProjectionTable

STAFF_ROLES = ProjectionTable(
    "staff_roles",
    """
CREATE TABLE IF NOT EXISTS consent.staff_roles (
    account_id text NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (account_id, role)
);
COMMENT ON TABLE consent.staff_roles IS
  'Staff roles from accounts.events.v1, to let DPOs read ledgers (SEC-2).';
""",
    "account_id",
)

PROJECTIONS: tuple[ProjectionTable, ...] = (STAFF_ROLES,)
"""Every projection table of the service."""

ATTEMPTS = AttemptCounter("consent")
"""Cookie writes counted per blind-indexed client address (``consent.attempts``, issue 26).

Not a projection: it holds no subject's data (keys are keyed hashes of addresses), so the
eraser has nothing to delete in it; expired windows are purged as writes come in.
"""
