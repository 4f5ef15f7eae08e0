"""Rebuild the search projection from the event store (LST-2): events -> searchable.

The event store is the source of truth; the search table is a disposable view of it.
Reading every listing event in position order, decrypting with the owners' keys (an
erased owner's listings read "erased" and are left out), folding each listing to its
last state and copying the published ones in at once rebuilds it, e.g. after a change
of the text-search configuration. It is rebuilt in one transaction: searches never see it
half-built, and commands writing to it wait until it is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from contracts.listings import (
    ListingCreated,
    ListingDeleted,
    ListingEdited,
    ListingPublished,
    ListingUnpublished,
)
from contracts.personal import ERASED
from kernel.codec import decode_fields, scopes_by_subject
from kernel.keystore import KeyStore
from listings.adapters.places import PlaceTable

TYPES = [c.event_type for c in (ListingCreated, ListingEdited, ListingPublished,
                                 ListingUnpublished, ListingDeleted)]
CHUNK = 20_000
GIN_INDEXES = ("listings.search_tsv_idx", "listings.search_title_trgm_idx")
SEARCH_COLUMNS = ("listing_id", "owner_id", "kind", "title", "description", "city", "place_id",
                  "lat", "lon", "tracking_number", "published_at")


@dataclass
class _State:
    owner_id: str
    kind: str
    fields: dict[str, Any]
    published_at: datetime | None = None
    gone: bool = False


def _fold(states: dict[str, _State], event_type: str, data: dict[str, Any],
          at: datetime) -> None:
    listing_id = data["listing_id"]
    if event_type == ListingCreated.event_type:
        states[listing_id] = _State(data["owner_id"], data["kind"], data)
        return
    state = states.get(listing_id)
    if state is None:
        return
    if event_type == ListingEdited.event_type:
        state.fields.update({k: v for k, v in data.items() if v is not None})
        for name in data.get("removed") or ():
            state.fields[name] = None
    elif event_type == ListingPublished.event_type:
        state.published_at = at
    elif event_type == ListingUnpublished.event_type:
        state.published_at = None
    else:
        state.gone = True


async def rebuild_search(pool: asyncpg.Pool, keys: KeyStore, places: PlaceTable,
                         tracking_number: Any) -> int:
    """Rebuild ``listings.search`` from the event store; returns the listings made searchable.

    Args:
        pool: The service's pool.
        keys: Its key store (to decrypt the listings' text).
        places: The place table (coordinates of each listing's place).
        tracking_number: ``(listing_id, phone) -> str``, the pseudonymised number (LST-5).
    """
    states: dict[str, _State] = {}
    after = 0
    async with pool.acquire() as conn, conn.transaction():
        # Writers wait (searches do not) until the new table is in: no command is lost.
        await conn.execute("LOCK TABLE listings.search IN EXCLUSIVE MODE")
        while True:
            rows = await conn.fetch(
                "SELECT position, event_id, event_type, schema_version, subject_id, occurred_at, "
                "payload FROM listings.events WHERE position > $1 AND event_type = ANY($2) "
                "ORDER BY position LIMIT $3", after, TYPES, CHUNK)
            if not rows:
                break
            after = rows[-1]["position"]
            payloads = [orjson.loads(r["payload"]) for r in rows]
            scopes = scopes_by_subject((r["subject_id"], r["event_type"], r["schema_version"],
                                        p) for r, p in zip(rows, payloads, strict=True))
            found = await keys.keys_for_reading({r["subject_id"] for r in rows}, scopes or None)
            for r, payload in zip(rows, payloads, strict=True):
                data = decode_fields(r["event_type"], r["schema_version"], payload,
                                     r["event_id"], found.get(r["subject_id"]))
                _fold(states, r["event_type"], data, r["occurred_at"])
        records = _records(states, places, tracking_number)
        await conn.execute("DELETE FROM listings.search")
        await conn.copy_records_to_table("search", schema_name="listings", records=records,
                                         columns=list(SEARCH_COLUMNS))
        # The copy left its entries in the text indexes' pending lists; merged now, so the
        # first searches do not scan them.
        for index in GIN_INDEXES:
            await conn.execute("SELECT gin_clean_pending_list($1::regclass)", index)
    return len(records)


def _records(states: dict[str, _State], places: PlaceTable, tracking_number: Any
             ) -> list[tuple[Any, ...]]:
    records = []
    for listing_id, s in states.items():
        f = s.fields
        if s.gone or s.published_at is None or ERASED in (f.get("title"), f.get("description")):
            continue
        place = places.by_id.get(f["place_id"]) if f.get("place_id") is not None else None
        phone = f.get("phone")
        records.append((listing_id, s.owner_id, s.kind, f["title"], f["description"],
                        place.name if place else f["city"], f.get("place_id"),
                        place.lat if place else None, place.lon if place else None,
                        tracking_number(listing_id, phone) if phone else None, s.published_at))
    return records
