"""Search requests: the words of a query, the order, and an opaque cursor (LST-2)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson

from listings.domain.errors import InvalidListing

Sort = Literal["newest", "best"]
MAX_TERMS = 8
MAX_LIMIT = 50
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after ``(published_at, listing_id)`` or at ``offset``.

    ``fuzzy`` carries on a near-miss search (the exact one found less than a page).
    """

    sort: Sort
    published_at: datetime | None = None
    listing_id: str | None = None
    offset: int = 0
    fuzzy: bool = False
    personal: bool = False

    def encode(self) -> str:
        """The cursor as an opaque URL-safe string."""
        data = {"s": self.sort, "t": self.published_at.isoformat() if self.published_at else None,
                "i": self.listing_id, "o": self.offset, "f": self.fuzzy, "p": self.personal}
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: Sort) -> Cursor:
        """Parse a cursor given out earlier; a foreign or damaged one is refused."""
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(data["s"], datetime.fromisoformat(data["t"]) if data["t"] else None,
                         data["i"], int(data["o"]), bool(data["f"]), bool(data["p"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidListing("cursor is not one this API gave out") from None
        if cursor.sort != sort or cursor.offset < 0:
            raise InvalidListing("cursor belongs to another ordering")
        return cursor


def terms(query: str | None) -> list[str]:
    """The query's words, lower case, letters and digits only (safe inside ``to_tsquery``)."""
    if not query:
        return []
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def tsquery_text(words: list[str]) -> str:
    """A ``to_tsquery`` expression: every word must match, each also as a prefix.

    The words are letters and digits only (:func:`terms`), so nothing in them is syntax.
    """
    return " & ".join(f"{w}:*" for w in words)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search: words, place and radius, order and page."""

    words: list[str]
    place_center: tuple[float, float] | None
    radius_km: float
    sort: Sort
    cursor: Cursor | None
    limit: int
    kind: str | None = None
    affinity: Affinity | None = None


@dataclass(frozen=True, slots=True)
class Affinity:
    """What the member's own usage says they look for (LST-7): kinds and places."""

    kinds: tuple[str, ...]
    place_ids: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.kinds or self.place_ids)


def affinity(used: list[tuple[str, int | None]], top: int = 3) -> Affinity:
    """The kinds and places most present in the member's favourites and views."""
    kinds: dict[str, int] = {}
    places: dict[int, int] = {}
    for kind, place_id in used:
        kinds[kind] = kinds.get(kind, 0) + 1
        if place_id is not None:
            places[place_id] = places.get(place_id, 0) + 1
    best = sorted(kinds, key=lambda k: -kinds[k])[:1]
    return Affinity(tuple(best), tuple(sorted(places, key=lambda p: -places[p])[:top]))
