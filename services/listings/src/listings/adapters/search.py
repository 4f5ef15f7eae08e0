"""The search query on the ``search`` projection: Dutch full text, place and radius (LST-2).

Words match in the ``dutch`` text-search configuration (stemmed: *timmerman* finds
*timmermannen*), each also as a prefix (*timmer* finds *timmerman*); a title that is a
near miss by trigrams (*timerman*) matches too, word by word, but only in a second query
when the exact one finds nothing: trigram matching costs far more than the text
index, and a typo is what makes a search come back (nearly) empty. A place narrows to
the listings within the radius of its centre: a bounding box on the ``lat`` and ``lon``
indexes (their statistics let the planner weigh it against the text index), then the
exact distance.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from listings.domain.places import EARTH_KM, bounding_box, cells
from listings.domain.search import SearchRequest, tsquery_text

LOCKED_OWNER_HIDDEN = ("NOT EXISTS (SELECT 1 FROM listings.accounts a "
                       "WHERE a.account_id = owner_id AND a.status = 'locked')")
"""Leaves out the listings of a member whose account is locked (an erasure's grace window)."""

FUZZY_MIN = 4
"""Words shorter than this have too few trigrams to match by similarity."""

COLUMNS = ("listing_id, kind, title, description, city, tracking_number, published_at, "
           "owner_id")

_DISTANCE = (f"(2 * {EARTH_KM} * asin(least(1, sqrt(power(sin(radians(lat - $LAT) / 2), 2) "
             "+ cos(radians($LAT)) * cos(radians(lat)) "
             "* power(sin(radians(lon - $LON) / 2), 2)))))")


def build(req: SearchRequest, fuzzy: bool = False) -> tuple[str, list[Any]]:
    """The SQL and its parameters for one page (one more row than asked, to know if more).

    Args:
        req: The search.
        fuzzy: Whether titles that are near misses of each word match too.
    """
    args: list[Any] = []
    where: list[str] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    rank = "0::real"
    region = ""
    if req.words and req.place_center is not None:
        # The place's grid cells join the words in one text-index scan (GIN intersects them).
        box = bounding_box(*req.place_center, req.radius_km)
        region = f" && {arg(' | '.join(cells(*box)))}::tsquery"
    if req.words:
        q = f"to_tsquery('dutch'::regconfig, {arg(tsquery_text(req.words))})"
        near = []
        for word in (w for w in req.words if fuzzy and len(w) >= FUZZY_MIN):
            w = arg(word)
            near.append(f"(tsv @@ to_tsquery('dutch'::regconfig, {w} || ':*') "
                        f"OR lower(title) %> {w})")
        where.append(f"(tsv @@ ({q}{region}) OR ({' AND '.join(near)}))" if near
                     else f"tsv @@ ({q}{region})")
        rank = f"ts_rank_cd(tsv, {q})"
    if req.kind:
        where.append(f"kind = {arg(req.kind)}")
    distance = "NULL::float8"
    if req.place_center is not None:
        lat, lon = req.place_center
        box = bounding_box(lat, lon, req.radius_km)
        # With words, the text index is the narrow one: the box is then checked on the rows
        # it finds (``+ 0`` keeps the planner from intersecting two wide index scans).
        col = "{} + 0" if req.words else "{}"
        where.append(f"{col.format('lon')} BETWEEN {arg(box[0])} AND {arg(box[2])}")
        where.append(f"{col.format('lat')} BETWEEN {arg(box[1])} AND {arg(box[3])}")
        distance = _DISTANCE.replace("$LAT", arg(lat)).replace("$LON", arg(lon))
        where.append(f"{distance} <= {arg(req.radius_km)}")
    order: str
    if req.affinity:  # personalised (LST-7): what the member looks for first, then as asked
        base = f"{rank} DESC, " if req.sort == "best" else ""
        order = (f"(kind = ANY({arg(list(req.affinity.kinds))}::text[]))::int + coalesce("
                 f"place_id = ANY({arg(list(req.affinity.place_ids))}::int[]), false)::int "
                 f"DESC, {base}published_at DESC, listing_id DESC")
        tail = f" OFFSET {arg(req.cursor.offset if req.cursor else 0)}"
    elif req.sort == "best":
        order = f"{rank} DESC, published_at DESC, listing_id DESC"
        offset = req.cursor.offset if req.cursor else 0
        tail = f" OFFSET {arg(offset)}"
    else:
        order = "published_at DESC, listing_id DESC"
        tail = ""
        if req.cursor is not None and req.cursor.published_at is not None:
            where.append(f"(published_at, listing_id) < ({arg(req.cursor.published_at)}, "
                         f"{arg(req.cursor.listing_id)})")
    # A member whose erasure waits out its grace window is shown nowhere (PRV-5).
    where.append(LOCKED_OWNER_HIDDEN)
    sql = (f"SELECT {COLUMNS}, {distance} AS distance_km FROM listings.search"
           + " WHERE " + " AND ".join(where)
           + f" ORDER BY {order} LIMIT {arg(req.limit + 1)}{tail}")
    return sql, args


def can_be_fuzzy(req: SearchRequest) -> bool:
    """Whether a near-miss search could find more than the exact one."""
    return any(len(w) >= FUZZY_MIN for w in req.words)


async def search(conn: asyncpg.Connection, req: SearchRequest, fuzzy: bool
                 ) -> list[asyncpg.Record]:
    """The rows of one page, plus one to tell whether another page follows."""
    sql, args = build(req, fuzzy)
    return list(await conn.fetch(sql, *args))


async def usage_of(conn: asyncpg.Connection, member_id: str, limit: int = 50
                   ) -> list[tuple[str, int | None]]:
    """Kinds and places of the member's latest favourites and views still published."""
    rows = await conn.fetch(
        "SELECT s.kind, s.place_id FROM (SELECT listing_id, at FROM listings.favourites "
        "WHERE member_id = $1 UNION ALL SELECT listing_id, at FROM listings.views "
        "WHERE member_id = $1 ORDER BY at DESC LIMIT $2) u "
        "JOIN listings.search s USING (listing_id)", member_id, limit)
    return [(r["kind"], r["place_id"]) for r in rows]
