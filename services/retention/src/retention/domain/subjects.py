"""What personal data each subject has, per category and service (RET-2), in pure terms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Sighting:
    """One event showed that ``service`` holds these categories of ``subject_id``'s data."""

    subject_id: str
    service: str
    categories: frozenset[str]
    at: datetime


@dataclass(frozen=True, slots=True)
class Holding:
    """A subject's data of one category held by one service, first and last seen."""

    subject_id: str
    category: str
    service: str
    first_seen: datetime
    last_seen: datetime
    events: int


def fold(sightings: Iterable[Sighting]) -> list[Holding]:
    """Merge sightings into one holding per (subject, category, service)."""
    acc: dict[tuple[str, str, str], tuple[datetime, datetime, int]] = {}
    for s in sightings:
        for category in s.categories:
            key = (s.subject_id, category, s.service)
            prev = acc.get(key)
            acc[key] = (
                (s.at, s.at, 1) if prev is None
                else (min(prev[0], s.at), max(prev[1], s.at), prev[2] + 1)
            )
    return [Holding(k[0], k[1], k[2], v[0], v[1], v[2]) for k, v in acc.items()]
