"""Projection tables of the retention service (its event store's are the kernel's)."""

from __future__ import annotations

import asyncpg

from retention.adapters import lifecycle

DDL = """
CREATE TABLE IF NOT EXISTS retention.privacy_requests (
    request_id        text PRIMARY KEY,
    subject_id        text        NOT NULL,
    type              text        NOT NULL,
    channel           text        NOT NULL,
    status            text        NOT NULL,
    received_at       timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    ended_at          timestamptz,
    reason            text        NOT NULL DEFAULT '',
    expected_services text[]      NOT NULL DEFAULT '{}',
    receipts          jsonb       NOT NULL DEFAULT '{}',
    token_hash        bytea,
    version           integer     NOT NULL
);
ALTER TABLE retention.privacy_requests
    ADD COLUMN IF NOT EXISTS last_order_at timestamptz,
    ADD COLUMN IF NOT EXISTS orders integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS escalated text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS shred_at timestamptz,
    ADD COLUMN IF NOT EXISTS kept_categories text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS privacy_requests_shred_idx
    ON retention.privacy_requests (shred_at) WHERE status = 'verified' AND shred_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS privacy_requests_retry_idx
    ON retention.privacy_requests (last_order_at) WHERE status = 'in_progress';
CREATE INDEX IF NOT EXISTS privacy_requests_subject_idx
    ON retention.privacy_requests (subject_id);
CREATE INDEX IF NOT EXISTS privacy_requests_open_due_idx
    ON retention.privacy_requests (due_at) WHERE ended_at IS NULL;
COMMENT ON TABLE retention.privacy_requests IS
  'Privacy requests (PRV-7); kept after an erasure as its proof: subject id only.';
CREATE TABLE IF NOT EXISTS retention.disclosures (
    disclosure_id text PRIMARY KEY,
    subject_id    text        NOT NULL,
    recipient     text        NOT NULL,
    purpose       text        NOT NULL,
    categories    text[]      NOT NULL,
    legal_basis   text        NOT NULL,
    source        text        NOT NULL,
    at            timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS disclosures_subject_idx ON retention.disclosures (subject_id);
COMMENT ON TABLE retention.disclosures IS
  'Every disclosure of a subject''s data (SHR-1): recipient, purpose, categories, no values.';
CREATE TABLE IF NOT EXISTS retention.subject_data (
    subject_id  text        NOT NULL,
    category    text        NOT NULL,
    service     text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    events      bigint      NOT NULL,
    PRIMARY KEY (subject_id, category, service)
);
COMMENT ON TABLE retention.subject_data IS
  'Which categories of each subject''s personal data each service holds (RET-2).';
CREATE TABLE IF NOT EXISTS retention.export_parts (
    request_id  text        NOT NULL,
    service     text        NOT NULL,
    subject_id  text        NOT NULL,
    event_id    uuid        NOT NULL,
    sealed      text        NOT NULL,
    given_at    timestamptz NOT NULL,
    chunk       integer     NOT NULL DEFAULT 0,
    chunks      integer     NOT NULL DEFAULT 1,
    PRIMARY KEY (request_id, service, chunk)
);
-- A schema from before chunked parts: one part per service.
ALTER TABLE retention.export_parts ADD COLUMN IF NOT EXISTS chunk integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS chunks integer NOT NULL DEFAULT 1;
DO $$ BEGIN
    IF (SELECT array_length(conkey, 1) FROM pg_constraint
        WHERE conrelid = 'retention.export_parts'::regclass AND contype = 'p') = 2 THEN
        ALTER TABLE retention.export_parts DROP CONSTRAINT export_parts_pkey;
        ALTER TABLE retention.export_parts ADD PRIMARY KEY (request_id, service, chunk);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS export_parts_subject_idx ON retention.export_parts (subject_id);
COMMENT ON TABLE retention.export_parts IS
  'Each service''s part of an access or portability export (PRV-1, PRV-2), as it was '
  'published: sealed under the subject''s key. Deleted when the export expires.';
CREATE TABLE IF NOT EXISTS retention.exports (
    request_id   text        PRIMARY KEY,
    subject_id   text        NOT NULL,
    generated_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS retention.legal_holds (
    hold_id        text        PRIMARY KEY,
    subject_id     text        NOT NULL,
    category       text,
    reason         text        NOT NULL,
    authority      text        NOT NULL,
    case_reference text        NOT NULL,
    placed_by      text        NOT NULL,
    placed_at      timestamptz NOT NULL,
    released_by    text,
    released_at    timestamptz
);
CREATE INDEX IF NOT EXISTS legal_holds_active_idx
    ON retention.legal_holds (subject_id) WHERE released_at IS NULL;
COMMENT ON TABLE retention.legal_holds IS
  'Legal holds (RET-4): who froze whose data from deletion, why, until when.';
CREATE TABLE IF NOT EXISTS retention.erasure_proofs (
    request_id text  PRIMARY KEY,
    proof      jsonb NOT NULL,
    signature  text  NOT NULL
);
COMMENT ON TABLE retention.erasure_proofs IS
  'Signed proofs of completed erasures (PRV-5, RET-5); no personal data.';
CREATE TABLE IF NOT EXISTS retention.staff_roles (
    account_id  text NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (account_id, role)
);
COMMENT ON TABLE retention.staff_roles IS
  'Staff roles, from the accounts service''s role events (SEC-2): who may read the register '
  'and work privacy requests.';
"""


async def migrate(conn: asyncpg.Connection) -> None:
    """Create the retention projections (idempotent; the host serialises callers)."""
    await conn.execute(DDL)
    await lifecycle.migrate(conn)
