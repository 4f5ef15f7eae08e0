"""The messaging service's projection tables: the one place each table is registered.

A feature adds its table to :data:`PROJECTIONS` with its DDL and the column naming its
data subject; the migration creates it and the eraser deletes the subject's rows (PRV-5).

Conversations and messages are shared by two participants: an erased member's messages
stay listed for the other one, their body reading "erased" (the key is gone; the eraser
also drops the token), so those two tables are kept by the eraser and handled apart.
Message bodies are kept only as the sealed tokens of their events (MSG-3), never in clear.
"""

from __future__ import annotations

from kernel.projections import ProjectionTable

S = "messaging"

ACCOUNTS = ProjectionTable("accounts", f"""
CREATE TABLE IF NOT EXISTS {S}.accounts (
    account_id text PRIMARY KEY, kind text NOT NULL, status text NOT NULL,
    username text)""", "account_id")

LISTINGS = ProjectionTable("listings", f"""
CREATE TABLE IF NOT EXISTS {S}.listings (
    listing_id text PRIMARY KEY, owner_id text NOT NULL, published boolean NOT NULL)""",
    "owner_id")

STAFF_ROLES = ProjectionTable("staff_roles", f"""
CREATE TABLE IF NOT EXISTS {S}.staff_roles (
    account_id text NOT NULL, role text NOT NULL, PRIMARY KEY (account_id, role))""",
    "account_id")

CONVERSATIONS = ProjectionTable("conversations", f"""
CREATE TABLE IF NOT EXISTS {S}.conversations (
    conversation_id text PRIMARY KEY, listing_id text NOT NULL, started_by text NOT NULL,
    recipient_id text NOT NULL, started_at timestamptz NOT NULL,
    pair_low text NOT NULL, pair_high text NOT NULL,
    UNIQUE (listing_id, pair_low, pair_high));
CREATE INDEX IF NOT EXISTS conversations_low ON {S}.conversations (pair_low);
CREATE INDEX IF NOT EXISTS conversations_high ON {S}.conversations (pair_high);
CREATE INDEX IF NOT EXISTS conversations_starter
    ON {S}.conversations (started_by, started_at)""", None)

MESSAGES = ProjectionTable("messages", f"""
CREATE TABLE IF NOT EXISTS {S}.messages (
    seq bigserial PRIMARY KEY, message_id text UNIQUE NOT NULL,
    conversation_id text NOT NULL, sender_id text NOT NULL, recipient_id text NOT NULL,
    posted_at timestamptz NOT NULL, status text NOT NULL, outcome text NOT NULL,
    reasons jsonb NOT NULL, attachments int NOT NULL, event_id uuid NOT NULL,
    body_token text, body_expires_at timestamptz);
CREATE INDEX IF NOT EXISTS messages_conversation ON {S}.messages (conversation_id, seq);
CREATE INDEX IF NOT EXISTS messages_quarantined ON {S}.messages (seq)
    WHERE status = 'quarantined';
CREATE INDEX IF NOT EXISTS messages_sender ON {S}.messages (sender_id)""", None)

SEND_LOG = ProjectionTable("send_log", f"""
CREATE TABLE IF NOT EXISTS {S}.send_log (
    sender_id text NOT NULL, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS send_log_sender ON {S}.send_log (sender_id, at)""", "sender_id")

TEXT_HASHES = ProjectionTable("text_hashes", f"""
CREATE TABLE IF NOT EXISTS {S}.text_hashes (
    sender_id text NOT NULL, digest bytea NOT NULL, recipient_id text NOT NULL,
    at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS text_hashes_sender ON {S}.text_hashes (sender_id, digest, at)""",
    "sender_id")

LINK_DOMAINS = ProjectionTable("blocked_domains", f"""
CREATE TABLE IF NOT EXISTS {S}.blocked_domains (
    sender_id text NOT NULL, domain text NOT NULL, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS blocked_domains_sender
    ON {S}.blocked_domains (sender_id, domain, at)""", "sender_id")

NOTICES = ProjectionTable("notices", f"""
CREATE TABLE IF NOT EXISTS {S}.notices (
    notice_id text PRIMARY KEY, account_id text NOT NULL, signal text NOT NULL,
    count int NOT NULL, indicator text, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS notices_account ON {S}.notices (account_id, signal, at)""",
    "account_id")

REPORTS = ProjectionTable("reports", f"""
CREATE TABLE IF NOT EXISTS {S}.reports (
    report_id text PRIMARY KEY, kind text NOT NULL, subject_id text NOT NULL,
    reporter_id text, conversation_id text, reported_id text, reason text,
    event_id uuid NOT NULL, text_field text NOT NULL, text_token text,
    contact_token text, status text NOT NULL, received_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS reports_status ON {S}.reports (status, received_at)""",
    "subject_id")

INTAKE_LOG = ProjectionTable("intake_log", f"""
CREATE TABLE IF NOT EXISTS {S}.intake_log (
    source bytea NOT NULL, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS intake_log_source ON {S}.intake_log (source, at)""", None)

DISPUTES = ProjectionTable("disputes", f"""
CREATE TABLE IF NOT EXISTS {S}.disputes (
    dispute_id text PRIMARY KEY, account_id text NOT NULL, source text NOT NULL,
    reference text, opened_by text NOT NULL, opened_at timestamptz NOT NULL,
    event_id uuid NOT NULL, summary_token text,
    closed_at timestamptz, closed_by text, resolution text);
CREATE INDEX IF NOT EXISTS disputes_account ON {S}.disputes (account_id)""", "account_id")

STAFF_ACCESS = ProjectionTable("staff_access", f"""
CREATE TABLE IF NOT EXISTS {S}.staff_access (
    access_id text NOT NULL, subject_id text NOT NULL, staff_account_id text NOT NULL,
    role text NOT NULL, purpose text NOT NULL, kind text NOT NULL, item_ids text[] NOT NULL,
    accessed_at timestamptz NOT NULL, PRIMARY KEY (access_id, subject_id));
CREATE INDEX IF NOT EXISTS staff_access_subject ON {S}.staff_access (subject_id, accessed_at);
CREATE INDEX IF NOT EXISTS staff_access_staff
    ON {S}.staff_access (staff_account_id, accessed_at)""", None)
"""Staff reads (SEC-2): ids, role, purpose, never values; kept past erasure, as accounts'."""

PROJECTIONS: tuple[ProjectionTable, ...] = (
    ACCOUNTS, LISTINGS, STAFF_ROLES, CONVERSATIONS, MESSAGES, SEND_LOG, TEXT_HASHES,
    LINK_DOMAINS, NOTICES, REPORTS, INTAKE_LOG, DISPUTES, STAFF_ACCESS,
)
"""Every projection table of the service."""
