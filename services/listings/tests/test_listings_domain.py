"""The pure rules of the listings domain, without I/O (LST-1, LST-2, LST-4, SHR-2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts.listings import ListingCreated, ListingEdited, ListingPublished
from listings.adapters.places import EXTRACT, extract_from_package, netherlands
from listings.adapters.search import build
from listings.domain import applications
from listings.domain.errors import EmployerRequired, InvalidListing, MemberRequired, NotFound
from listings.domain.model import Content, Listing
from listings.domain.places import bounding_box, distance_km, normalise, radius
from listings.domain.search import Cursor, SearchRequest, terms, tsquery_text

pytestmark = pytest.mark.unit

CONTENT = Content("Titel", "Tekst", "Utrecht", None, None, 2745912)


def test_lst_1_only_employers_post_vacancies_only_members_profiles_and_ads() -> None:
    with pytest.raises(EmployerRequired):
        Listing.create("l1", "m1", "member", "vacancy", CONTENT, True)
    with pytest.raises(MemberRequired):
        Listing.create("l1", "e1", "employer", "ad", CONTENT, True)
    listing = Listing.create("l1", "e1", "employer", "vacancy", CONTENT, True)
    assert [type(e) for e in listing.events] == [ListingCreated, ListingPublished]


def test_lst_1_another_member_cannot_change_a_listing_and_blank_text_is_refused() -> None:
    listing = Listing.create("l1", "m1", "member", "ad", CONTENT, False)
    listing.events.clear()
    for action in (lambda: listing.edit("m2", {"title": "x"}), lambda: listing.publish("m2"),
                   lambda: listing.delete("m2")):
        with pytest.raises(NotFound):
            action()
    with pytest.raises(InvalidListing):
        listing.edit("m1", {"title": "  "})
    with pytest.raises(InvalidListing):
        listing.edit("m1", {"title": None})
    listing.edit("m1", {"phone": None})  # nothing to remove: no event
    assert listing.events == []
    listing.edit("m1", {"title": "Nieuw"})
    [edited] = listing.events
    assert isinstance(edited, ListingEdited) and edited.title == "Nieuw"


def test_shr_2_an_application_carries_exactly_the_chosen_fields() -> None:
    who = applications.Applicant("a1", "Naam", "a@example.org", "+31611111111", "user", None)
    submitted, disclosed = applications.apply("app", "dis", "l1", "e1", "employer", True, who,
                                              None, ["email"])
    assert not isinstance(submitted.shared, str)
    assert submitted.shared.model_dump(exclude_none=True) == {"email": "a@example.org"}
    assert disclosed.categories == ["email"]
    assert (disclosed.recipient_id, disclosed.legal_basis) == ("e1", "consent")
    with pytest.raises(InvalidListing):
        applications.shared_fields(who, ["password"])
    with pytest.raises(NotFound):
        applications.apply("app", "dis", "l1", "e1", "employer", False, who, None, ["email"])


def test_lst_2_place_names_normalise_and_distances_are_great_circle() -> None:
    assert normalise("'s-Hertogenbosch") == normalise("s Hertogenbosch") == "s hertogenbosch"
    assert normalise("Île-de-Fränce") == "ile de france"
    utrecht, zeist = (52.09083, 5.12222), (52.09, 5.23333)
    assert distance_km(*utrecht, *zeist) == pytest.approx(7.6, abs=0.2)
    min_lon, min_lat, max_lon, max_lat = bounding_box(*utrecht, 10)
    assert min_lat < utrecht[0] < max_lat and min_lon < utrecht[1] < max_lon
    assert radius(None) == 10 and radius(1000) == 300


def test_lst_2_the_shipped_place_table_covers_the_netherlands() -> None:
    places = netherlands()
    assert len(places) > 1500
    for name in ("Amsterdam", "Den Bosch", "Den Haag", "Zwolle", "Maastricht", "Leusden"):
        assert places.resolve(name) is not None, name
    assert places.resolve("Nergenshuizen") is None


def test_lst_2_the_shipped_extract_equals_the_data_package() -> None:
    assert json.loads(EXTRACT.read_text(encoding="utf-8")) == json.loads(
        json.dumps(extract_from_package()))


def test_lst_2_query_words_cannot_inject_tsquery_syntax() -> None:
    assert terms("fiets & !(x | y):* ' OR 1=1") == ["fiets", "x", "y", "or", "1", "1"]
    assert tsquery_text(["fiets", "rood"]) == "fiets:* & rood:*"
    assert terms(None) == []


def test_lst_2_cursors_round_trip_and_refuse_tampering() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    cursor = Cursor("newest", at, "l9")
    assert Cursor.decode(cursor.encode(), "newest") == cursor
    with pytest.raises(InvalidListing):
        Cursor.decode(cursor.encode(), "best")
    with pytest.raises(InvalidListing):
        Cursor.decode("bm90IGpzb24", "newest")


def test_lst_2_search_sql_takes_every_value_as_a_parameter() -> None:
    req = SearchRequest(["fiets"], (52.0, 5.0), 10.0, "newest",
                        Cursor("newest", datetime(2026, 1, 1, tzinfo=UTC), "l1"), 20, "ad")
    sql, args = build(req)
    assert "fiets" not in sql and "l1" not in sql
    assert "fiets:*" in args and "l1" in args and "ad" in args


def test_lst_2_a_box_is_covered_by_few_grid_cells_of_the_finest_fitting_grid() -> None:
    from listings.domain.places import cells

    near = cells(*bounding_box(52.09083, 5.12222, 5))
    assert 1 <= len(near) <= 16 and all(c.startswith("f") for c in near)
    assert "f520x51" in near  # Utrecht's own cell
    wide = cells(*bounding_box(52.09083, 5.12222, 50))
    assert all(c.startswith("k") for c in wide) and "k104x10" in wide


def test_lst_7_affinity_comes_from_the_members_own_usage() -> None:
    from listings.domain.search import affinity

    used = affinity([("ad", 1), ("ad", 2), ("vacancy", 1), ("ad", None)])
    assert used.kinds == ("ad",) and used.place_ids[0] == 1
    assert not affinity([])


@pytest.mark.parametrize(("standing", "personal"), [
    ({}, True),
    ({"granted": False}, False),  # objected (CNS-3)
    ({"restricted": True}, False),  # processing restricted (PRV-6)
])
async def test_lst_7_personalised_only_while_not_objected_and_not_restricted(
    standing: dict[str, object], personal: bool,
) -> None:
    from kernel.guard import FakeGuard
    from listings.domain import commands
    from listings.service_layer import search as searching

    guard = FakeGuard()
    guard.set("m1", searching.PERSONALISATION, legal_basis="legitimate_interest", channels=[],
              kind=None, marketing=True, **standing)

    class Conn:
        async def fetch(self, sql: str, *args: object) -> list[dict[str, object]]:
            return [{"kind": "ad", "place_id": 7}]

    class Pool:
        def acquire(self) -> Pool:
            return self

        async def __aenter__(self) -> Conn:
            return Conn()

        async def __aexit__(self, *exc: object) -> None:
            return None

    ctx = type("Ctx", (), {"pool": Pool(), "guard": guard})()
    req = SearchRequest(["fiets"], None, 10.0, "newest", None, 20)
    out = await searching.personalised(commands.Search(q="fiets", member_id="m1"), ctx, req)
    assert bool(out.affinity) is personal
    assert len(guard.refusals) == (0 if personal else 1)
