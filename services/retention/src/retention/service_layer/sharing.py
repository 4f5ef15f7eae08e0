"""Disclosures (SHR-1 … SHR-5): checked against the recipients register, logged as events
and in ``retention.disclosures``, and shown in the member's access export per category."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from contracts.listings import DataDisclosed
from contracts.privacy import DisclosureRecorded
from kernel.consumer import Delivered
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.guard import ContactGuard
from kernel.logs import get_logger
from retention.domain.records import RecordsBasis
from retention.domain.sharing import (
    NEEDS_CONSENT,
    Disclosure,
    DisclosureRefused,
    categories_of_fields,
    check,
)

log = get_logger(__name__)

_INSERT = (
    "INSERT INTO retention.disclosures (disclosure_id, subject_id, recipient, purpose, "
    "categories, legal_basis, source, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (disclosure_id) DO NOTHING")


async def disclose(conn: asyncpg.Connection, store: EventStore, guard: ContactGuard,
                   basis: RecordsBasis, asked: Disclosure, now: datetime) -> dict[str, Any]:
    """Check and log one disclosure staff are about to make; returns what may be sent.

    Raises:
        DisclosureRefused: a rule of SHR-1 … SHR-5 refuses it (``code`` says which).
    """
    recipient = check(basis, asked)
    if asked.purpose in NEEDS_CONSENT:
        verdict = await guard.allows(asked.subject_id, asked.purpose, None, conn)
        if not verdict.allowed:
            raise DisclosureRefused(
                "consent_missing", "personal data goes to third parties for their marketing "
                                   "only with the member's consent (SHR-5)")
    disclosure_id = str(uuid.uuid4())
    event = DisclosureRecorded(
        disclosure_id=disclosure_id, subject_id=asked.subject_id, recipient=recipient.code,
        recipient_kind=recipient.kind, purpose=asked.purpose,
        categories=sorted(asked.categories), legal_basis=asked.legal_basis,
        countries=list(recipient.countries), transfer_basis=recipient.transfer_basis,
        authority=asked.authority, case_reference=asked.case_reference)
    async with conn.transaction():
        await store.append(conn, f"disclosure-{disclosure_id}", StreamHead(),
                           [NewEvent(event, asked.subject_id)])
        await conn.execute(_INSERT, disclosure_id, asked.subject_id, recipient.code,
                           asked.purpose, sorted(asked.categories), asked.legal_basis,
                           "retention", now)
    log.info("sharing.disclosed", disclosure_id=disclosure_id, recipient=recipient.code,
             purpose=asked.purpose, categories=len(asked.categories))
    return {"disclosure_id": disclosure_id, "recipient": recipient.code,
            "recipient_name": recipient.name, "purpose": asked.purpose,
            "categories": sorted(asked.categories), "legal_basis": asked.legal_basis,
            "countries": list(recipient.countries), "transfer_basis": recipient.transfer_basis}


async def record_listings_disclosures(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
    """Log the disclosures listings made (an application shared with an employer, LST-4)."""
    rows = []
    for item in batch:
        ev = item.event
        assert isinstance(ev, DataDisclosed)
        rows.append((ev.disclosure_id, ev.subject_id, "employers", ev.purpose,
                     categories_of_fields(ev.categories), ev.legal_basis, "listings",
                     item.envelope.occurred_at))
    await conn.executemany(_INSERT, rows)


async def listing(conn: asyncpg.Connection, subject_id: str, limit: int = 500
                  ) -> list[dict[str, Any]]:
    """A subject's disclosures, newest first."""
    rows = await conn.fetch(
        "SELECT * FROM retention.disclosures WHERE subject_id = $1 ORDER BY at DESC LIMIT $2",
        subject_id, limit)
    return [{"disclosure_id": r["disclosure_id"], "recipient": r["recipient"],
             "purpose": r["purpose"], "categories": list(r["categories"]),
             "legal_basis": r["legal_basis"], "source": r["source"],
             "at": r["at"].isoformat()} for r in rows]


async def recipients_by_category(conn: asyncpg.Connection, subject_id: str
                                 ) -> dict[str, list[str]]:
    """Per data category, the recipients the subject's data went to (the export's
    ``recipients``, PRV-1)."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in await conn.fetch("SELECT recipient, categories FROM retention.disclosures "
                              "WHERE subject_id = $1", subject_id):
        for category in r["categories"]:
            out[category].add(r["recipient"])
    return {c: sorted(v) for c, v in out.items()}
