"""The listings service's projection tables: the one place each table is registered.

A feature adds its table to :data:`PROJECTIONS` with its DDL and the column naming its
data subject; the migration creates it and the eraser deletes the subject's rows (PRV-5).
Sealed columns hold values encrypted under the subject's key (SEC-1); ``search`` holds a
published listing's text in plaintext (API.md) and loses the row on unpublishing.
"""

from __future__ import annotations

from kernel.projections import ProjectionTable

EXTENSIONS = "CREATE EXTENSION IF NOT EXISTS pg_trgm;"

ACCOUNTS = ProjectionTable("accounts", """
CREATE TABLE IF NOT EXISTS listings.accounts (
    account_id text PRIMARY KEY,
    kind       text NOT NULL,
    status     text NOT NULL,
    pseudonym  text NOT NULL,
    details    text NOT NULL
);
""", "account_id")

LISTINGS = ProjectionTable("listings", """
CREATE TABLE IF NOT EXISTS listings.listings (
    listing_id text PRIMARY KEY,
    owner_id   text NOT NULL,
    kind       text NOT NULL,
    status     text NOT NULL,
    version    integer NOT NULL,
    head_hash  bytea NOT NULL,
    content    text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS listings_owner_idx ON listings.listings (owner_id, created_at);
""", "owner_id")

TSV = """
        setweight(to_tsvector('dutch'::regconfig, title), 'A')
        || setweight(to_tsvector('dutch'::regconfig, description), 'B')
        || CASE WHEN lat IS NULL OR lon IS NULL THEN ''::tsvector ELSE array_to_tsvector(ARRAY[
            'f' || floor(lat * 10)::int::text || 'x' || floor(lon * 10)::int::text,
            'k' || floor(lat * 2)::int::text || 'x' || floor(lon * 2)::int::text]) END"""
"""The text vector: Dutch words of title (weight A) and description (B), plus the listing's
grid cells (``listings.domain.places.cells``), so words and place meet in one index scan."""

SEARCH = ProjectionTable("search", """
CREATE TABLE IF NOT EXISTS listings.search (
    listing_id      text PRIMARY KEY,
    owner_id        text NOT NULL,
    kind            text NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL,
    city            text NOT NULL,
    place_id        integer,
    lat             double precision,
    lon             double precision,
    tracking_number text,
    published_at    timestamptz NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (TSV) STORED
);
DO $$ BEGIN  -- tables made before the grid cells were in the text vector get them now
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'listings'
                   AND table_name = 'search' AND column_name = 'tsv'
                   AND generation_expression LIKE '%array_to_tsvector%') THEN
        ALTER TABLE listings.search DROP COLUMN tsv;
        ALTER TABLE listings.search ADD COLUMN tsv tsvector GENERATED ALWAYS AS (TSV) STORED;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS search_tsv_idx ON listings.search USING gin (tsv);
CREATE INDEX IF NOT EXISTS search_title_trgm_idx ON listings.search
    USING gin (lower(title) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS search_newest_idx ON listings.search
    (published_at DESC, listing_id DESC);
DROP INDEX IF EXISTS listings.search_point_idx;
CREATE INDEX IF NOT EXISTS search_lat_idx ON listings.search (lat);
CREATE INDEX IF NOT EXISTS search_lon_idx ON listings.search (lon);
CREATE INDEX IF NOT EXISTS search_owner_idx ON listings.search (owner_id);
""".replace("(TSV)", f"({TSV})"), "owner_id")

FAVOURITES = ProjectionTable("favourites", """
CREATE TABLE IF NOT EXISTS listings.favourites (
    member_id  text NOT NULL,
    listing_id text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (member_id, listing_id)
);
""", "member_id")

VIEWS = ProjectionTable("views", """
CREATE TABLE IF NOT EXISTS listings.views (
    member_id  text NOT NULL,
    listing_id text NOT NULL,
    at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS views_member_idx ON listings.views (member_id, at DESC);
""", "member_id")

APPLICATIONS = ProjectionTable("applications", """
CREATE TABLE IF NOT EXISTS listings.applications (
    application_id text PRIMARY KEY,
    listing_id     text NOT NULL,
    owner_id       text NOT NULL,
    applicant_id   text NOT NULL,
    body           text NOT NULL,
    at             timestamptz NOT NULL,
    UNIQUE (listing_id, applicant_id)
);
CREATE INDEX IF NOT EXISTS applications_applicant_idx ON listings.applications (applicant_id);
""", "applicant_id")

DISCLOSURES = ProjectionTable("disclosures", """
CREATE TABLE IF NOT EXISTS listings.disclosures (
    disclosure_id  text PRIMARY KEY,
    subject_id     text NOT NULL,
    recipient_id   text NOT NULL,
    recipient_type text NOT NULL,
    purpose        text NOT NULL,
    categories     text[] NOT NULL,
    legal_basis    text NOT NULL,
    reference      text NOT NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS disclosures_subject_idx ON listings.disclosures (subject_id, at);
""", "subject_id")

FEEDBACK = ProjectionTable("feedback", """
CREATE TABLE IF NOT EXISTS listings.feedback (
    feedback_id      text PRIMARY KEY,
    listing_id       text NOT NULL,
    author_pseudonym text NOT NULL,
    rating           smallint NOT NULL,
    at               timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_listing_idx ON listings.feedback (listing_id, at);
""", None)

FEEDBACK_COMMENTS = ProjectionTable("feedback_comments", """
CREATE TABLE IF NOT EXISTS listings.feedback_comments (
    feedback_id text PRIMARY KEY,
    author_id   text NOT NULL,
    comment     text NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_comments_author_idx ON listings.feedback_comments (author_id);
""", "author_id")

CALL_NUMBERS = ProjectionTable("call_numbers", """
CREATE TABLE IF NOT EXISTS listings.call_numbers (
    tracking_number text PRIMARY KEY,
    listing_id      text NOT NULL UNIQUE,
    owner_id        text NOT NULL,
    phone           text NOT NULL
);
CREATE INDEX IF NOT EXISTS call_numbers_owner_idx ON listings.call_numbers (owner_id);
""", "owner_id")

CALLS = ProjectionTable("calls", """
CREATE TABLE IF NOT EXISTS listings.calls (
    call_id          text PRIMARY KEY,
    listing_id       text NOT NULL,
    tracking_number  text NOT NULL,
    caller_pseudonym text NOT NULL,
    duration_seconds integer NOT NULL,
    at               timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_listing_idx ON listings.calls (listing_id, at);
""", None)

COMPACTION_QUEUE = ProjectionTable("compaction_queue", """
CREATE TABLE IF NOT EXISTS listings.compaction_queue (
    table_name text PRIMARY KEY,
    queued_at  timestamptz NOT NULL
);
""", None)
"""Tables an erasure deleted published text from, to be rewritten after its commit."""

WEBHOOK_SIGNATURES = ProjectionTable("webhook_signatures", """
CREATE TABLE IF NOT EXISTS listings.webhook_signatures (
    signature text PRIMARY KEY,
    seen_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_signatures_seen_idx ON listings.webhook_signatures (seen_at);
""", None)
"""Signatures of the telephony webhook accepted within the replay window (one use each)."""

WEBHOOK_RATES = ProjectionTable("webhook_rates", """
CREATE TABLE IF NOT EXISTS listings.webhook_rates (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
""", None)
"""Calls reported per tracking number and overall, per minute (shared by every replica)."""

PROJECTIONS: tuple[ProjectionTable, ...] = (
    ACCOUNTS, LISTINGS, SEARCH, FAVOURITES, VIEWS, APPLICATIONS, DISCLOSURES,
    FEEDBACK, FEEDBACK_COMMENTS, CALL_NUMBERS, CALLS, COMPACTION_QUEUE, WEBHOOK_SIGNATURES,
    WEBHOOK_RATES,
)
"""Every projection table of the service, in creation order."""

PUBLISHED_TEXT: tuple[ProjectionTable, ...] = (SEARCH,)
"""The tables holding a member's text in plaintext (every other one seals it under the
member's key): an erasure that deleted rows from one has it rewritten (``compaction``)."""
