"""Places and distances: name normalisation and great-circle geometry (LST-2)."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

EARTH_KM = 6371.0088
KM_PER_DEGREE = 111.195
MAX_RADIUS_KM = 300.0
DEFAULT_RADIUS_KM = 10.0


@dataclass(frozen=True, slots=True)
class Place:
    """A place of the Netherlands with its coordinates."""

    place_id: int
    name: str
    lat: float
    lon: float


def normalise(name: str) -> str:
    """The lookup form of a place name: no accents, lower case, one space, no punctuation.

    ``'s-Hertogenbosch``, ``s Hertogenbosch`` and ``'S-HERTOGENBOSCH`` map alike.
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, km: float) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` enclosing the circle of ``km`` around a point."""
    dlat = km / KM_PER_DEGREE
    dlon = km / (KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def radius(value: float | None) -> float:
    """The radius searched: the default when none is given, never above the maximum."""
    if value is None:
        return DEFAULT_RADIUS_KM
    return max(0.0, min(float(value), MAX_RADIUS_KM))


GRIDS = (("f", 10), ("k", 2))
"""Grid cells a listing's place falls in: ``f`` of 0.1 degree (about 11 by 7 km), ``k`` of
0.5 degree; each listing's text vector holds one of each (``adapters.projections.TSV``)."""
MAX_CELLS = 16


def cells(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> list[str]:
    """The cells covering a box: the finest grid that needs at most ``MAX_CELLS`` of them."""
    for prefix, per_degree in GRIDS:
        lats = range(math.floor(min_lat * per_degree), math.floor(max_lat * per_degree) + 1)
        lons = range(math.floor(min_lon * per_degree), math.floor(max_lon * per_degree) + 1)
        if len(lats) * len(lons) <= MAX_CELLS or prefix == GRIDS[-1][0]:
            return [f"{prefix}{a}x{o}" for a in lats for o in lons]
    raise AssertionError("unreachable")
