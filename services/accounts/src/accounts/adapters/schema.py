"""Projection tables of the accounts service, in schema ``accounts``.

No column holds personal data in plaintext (SEC-1): look-ups go through keyed blind
indexes, personal values live in blobs sealed with the subject's key.
"""

from __future__ import annotations

import asyncpg

from kernel.attempts import AttemptCounter

ATTEMPTS = AttemptCounter("accounts")
"""Guesses and sign-ups counted per blind-indexed key (``accounts.attempts``, issue 26)."""

DDL = """
CREATE SCHEMA IF NOT EXISTS accounts;
CREATE TABLE IF NOT EXISTS accounts.accounts (
    account_id    text PRIMARY KEY,
    kind          text        NOT NULL,
    status        text        NOT NULL,
    email_bi      bytea UNIQUE,
    username_bi   bytea UNIQUE,
    profile       text        NOT NULL,
    password      text        NOT NULL,
    terms_version text        NOT NULL,
    pseudonym     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    version       integer     NOT NULL
);
ALTER TABLE accounts.accounts
    ADD COLUMN IF NOT EXISTS last_login_at timestamptz,
    ADD COLUMN IF NOT EXISTS idle_warned_at timestamptz,
    ADD COLUMN IF NOT EXISTS idle_due_at timestamptz;
CREATE TABLE IF NOT EXISTS accounts.sessions (
    token_hash    bytea PRIMARY KEY,
    session_id    text        NOT NULL UNIQUE,
    account_id    text        NOT NULL,
    remember_me   boolean     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    step_up_until timestamptz,
    revoked       boolean     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS sessions_account_idx ON accounts.sessions (account_id);
CREATE TABLE IF NOT EXISTS accounts.devices (
    registration_id text PRIMARY KEY,
    account_id      text        NOT NULL,
    device          text        NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devices_account_idx ON accounts.devices (account_id);
CREATE TABLE IF NOT EXISTS accounts.social_identities (
    link_id     text PRIMARY KEY,
    account_id  text        NOT NULL,
    subject_bi  bytea       NOT NULL,
    scopes      text[]      NOT NULL,
    identity    text        NOT NULL,
    linked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS social_account_idx ON accounts.social_identities (account_id);
-- A link is verified only once the provider's proof was checked (issue 26): an unverified
-- claim blocks nobody else's, a verified identity belongs to one account.
ALTER TABLE accounts.social_identities
    ADD COLUMN IF NOT EXISTS verified boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT IF EXISTS social_identities_subject_bi_key;
CREATE UNIQUE INDEX IF NOT EXISTS social_verified_subject_idx
    ON accounts.social_identities (subject_bi) WHERE verified;
CREATE UNIQUE INDEX IF NOT EXISTS social_account_subject_idx
    ON accounts.social_identities (account_id, subject_bi);
DROP TABLE IF EXISTS accounts.login_failures;
CREATE TABLE IF NOT EXISTS accounts.staff_roles (
    account_id text        NOT NULL,
    role       text        NOT NULL,
    granted_by text,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, role)
);
CREATE INDEX IF NOT EXISTS staff_roles_role_idx ON accounts.staff_roles (role);
CREATE TABLE IF NOT EXISTS accounts.staff_access_log (
    access_id        text PRIMARY KEY,
    event_id         uuid        NOT NULL UNIQUE,
    staff_account_id text        NOT NULL,
    role             text        NOT NULL,
    subject_id       text        NOT NULL,
    purpose          text        NOT NULL,
    reference        text,
    categories       text[]      NOT NULL,
    fields           text[]      NOT NULL,
    accessed_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS staff_access_subject_idx
    ON accounts.staff_access_log (subject_id, accessed_at);
CREATE INDEX IF NOT EXISTS staff_access_staff_idx
    ON accounts.staff_access_log (staff_account_id, accessed_at);
COMMENT ON TABLE accounts.staff_access_log IS
  'Every staff read of personal data (SEC-2): ids, purpose code and field names, no values.';
CREATE TABLE IF NOT EXISTS accounts.public_profiles (
    account_id        text PRIMARY KEY,
    status            text NOT NULL,
    pseudonym         text NOT NULL,
    username          text,
    username_event_id text
);
COMMENT ON TABLE accounts.public_profiles IS
  'What accounts.public-profiles.v1 holds per account; the username only as ciphertext.';
"""


async def migrate(conn: asyncpg.Connection) -> None:
    """Create the projection tables (idempotent)."""
    await conn.execute(DDL)
    await conn.execute(ATTEMPTS.ddl())
