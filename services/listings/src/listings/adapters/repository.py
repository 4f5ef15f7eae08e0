"""Listing state and the search projection in PostgreSQL, on the caller's connection.

Events, outbox rows and projection rows of a command commit together. A listing's text
is sealed under its owner's key in ``listings`` and plain only in ``search``, and only
while it is published (API.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from kernel.crypto import DataKey
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import KeyStore
from listings.domain.model import Content, Listing
from listings.domain.places import Place


def stream_of(listing_id: str) -> str:
    """The event stream of a listing."""
    return f"listing-{listing_id}"


class Sealer:
    """Seals values under a subject's key, bound to a purpose (SEC-1)."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def seal(self, subject_id: str, purpose: str, value: Any) -> str:
        """Encrypt ``value`` for ``subject_id``; raises ``SubjectErasedError`` once erased."""
        key = (await self.keys.keys_for_writing([subject_id]))[subject_id]
        return key.seal(orjson.dumps(value), f"listings:{subject_id}:{purpose}".encode())

    @staticmethod
    def seal_with(key: DataKey, subject_id: str, purpose: str, value: Any) -> str:
        """Encrypt with a key already at hand (a batch's keys read at once)."""
        return key.seal(orjson.dumps(value), f"listings:{subject_id}:{purpose}".encode())

    async def keys_for(self, subject_ids: list[str]) -> dict[str, DataKey | None]:
        """Reading keys of several subjects at once (``None``: erased)."""
        return dict(await self.keys.keys_for_reading(set(subject_ids)))

    @staticmethod
    def open_with(key: DataKey | None, subject_id: str, purpose: str, token: str) -> Any:
        """Decrypt with a key from :meth:`keys_for`; ``None`` when the subject is erased."""
        if key is None:
            return None
        return orjson.loads(key.open(token, f"listings:{subject_id}:{purpose}".encode()))

    async def open(self, subject_id: str, purpose: str, token: str) -> Any:
        """Decrypt one value sealed by :meth:`seal`."""
        key = (await self.keys_for([subject_id])).get(subject_id)
        return self.open_with(key, subject_id, purpose, token)


class ListingRepository:
    """Listing rows and their search rows on one connection."""

    def __init__(self, conn: asyncpg.Connection, store: EventStore, sealer: Sealer) -> None:
        self.conn = conn
        self.store = store
        self.sealer = sealer
        self._heads: dict[str, StreamHead] = {}

    async def get(self, listing_id: str, for_update: bool = False) -> Listing | None:
        """The listing, decrypted; ``None`` when unknown, deleted or its owner erased."""
        row = await self.conn.fetchrow(
            "SELECT * FROM listings.listings WHERE listing_id = $1 AND status <> 'deleted'"
            + (" FOR UPDATE" if for_update else ""), listing_id)
        if row is None:
            return None
        content = await self.sealer.open(row["owner_id"], "listing", row["content"])
        if content is None:
            return None
        listing = Listing(row["listing_id"], row["owner_id"], row["kind"], row["status"],
                          Content(**content), row["version"])
        self._heads[listing_id] = StreamHead(row["version"], bytes(row["head_hash"]))
        return listing

    async def save(self, listing: Listing, place: Place | None, tracking_number: str | None,
                   now: datetime) -> None:
        """Append the listing's new events, then write its state and search rows."""
        if not listing.events:
            return
        head = self._heads.get(listing.listing_id, StreamHead())
        events = [NewEvent(e, listing.owner_id) for e in listing.events]
        recs = await self.store.append(self.conn, stream_of(listing.listing_id), head, events)
        listing.version, last_hash = recs[-1].version, recs[-1].hash
        listing.events.clear()
        sealed = await self.sealer.seal(listing.owner_id, "listing", listing.content.as_dict())
        await self.conn.execute(
            "INSERT INTO listings.listings AS l (listing_id, owner_id, kind, status, version, "
            "head_hash, content, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (listing_id) DO UPDATE SET status = EXCLUDED.status, "
            "version = EXCLUDED.version, head_hash = EXCLUDED.head_hash, "
            "content = EXCLUDED.content",
            listing.listing_id, listing.owner_id, listing.kind, listing.status, listing.version,
            last_hash, sealed, now,
        )
        if listing.published:
            await self._index(listing, place, tracking_number, now)
        else:
            await self.conn.execute("DELETE FROM listings.search WHERE listing_id = $1",
                                    listing.listing_id)

    async def _index(self, listing: Listing, place: Place | None, tracking_number: str | None,
                     now: datetime) -> None:
        c = listing.content
        await self.conn.execute(
            "INSERT INTO listings.search (listing_id, owner_id, kind, title, description, city, "
            "place_id, lat, lon, tracking_number, published_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "ON CONFLICT (listing_id) DO UPDATE SET title = EXCLUDED.title, "
            "description = EXCLUDED.description, city = EXCLUDED.city, "
            "place_id = EXCLUDED.place_id, lat = EXCLUDED.lat, lon = EXCLUDED.lon, "
            "tracking_number = EXCLUDED.tracking_number",
            listing.listing_id, listing.owner_id, listing.kind, c.title, c.description,
            place.name if place else c.city, c.place_id, place.lat if place else None,
            place.lon if place else None, tracking_number, now,
        )
