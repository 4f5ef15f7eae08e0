"""Listing routes: post, edit, publish, search, favourites, applications, feedback, calls.

Bodies are validated here, at the edge; the listings service decides everything else.
Search words travel on to the service in a POST body: they never sit in a URL past the
gateway, a log line or a span (SEC-4).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import (
    CurrentSession,
    OptionalSession,
    Ups,
    forward,
    internal_path,
    path_param,
    uuid_param,
)

router = APIRouter(tags=["listings"])

PHONE = r"^\+[1-9][0-9]{6,14}$"
POSTCODE = r"^[1-9][0-9]{3}( ?[A-Za-z]{2})?$"
ERR = {"description": "Error: `{error: {code, message}}`."}
ListingId = Annotated[str, uuid_param("listing_id", "listing", "The listing.")]
TrackingNumber = Annotated[str, path_param("tracking_number", PHONE, "tracking number",
                                           "A tracking number, e.g. +31970123456789.")]


class Location(BaseModel):
    """General location: a place of the Netherlands, optionally a postcode."""

    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1, max_length=100, description="Town or municipality.")
    postcode: str | None = Field(None, pattern=POSTCODE, description="1234 or 1234 AB.")


class ListingRequest(BaseModel):
    """`POST /v1/listings` (LST-1)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vacancy", "profile", "ad"] = Field(description="Vacancies need an employer.")
    title: str = Field(min_length=1, max_length=200, description="Title.")
    description: str = Field(min_length=1, max_length=10_000, description="Text.")
    location: Location = Field(description="General location.")
    phone: str | None = Field(None, pattern=PHONE, description="Shown as a tracking number.")
    publish: bool = Field(True, description="Publish at once.")


class LocationUpdate(BaseModel):
    """A location change."""

    model_config = ConfigDict(extra="forbid")

    city: str | None = Field(None, min_length=1, max_length=100)
    postcode: str | None = Field(None, pattern=POSTCODE)


class ListingUpdate(BaseModel):
    """`PATCH /v1/listings/{id}`: fields sent change; `null` removes phone or postcode."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, min_length=1, max_length=10_000)
    location: LocationUpdate | None = None
    phone: str | None = Field(None, pattern=PHONE)


class ApplicationRequest(BaseModel):
    """`POST /v1/listings/{id}/applications` (LST-4): only the fields in `share` are shared."""

    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(None, max_length=5_000, description="A message to the owner.")
    share: list[Literal["name", "email", "phone", "profile"]] = Field(
        max_length=4, description="The fields the owner may see.")


class FeedbackRequest(BaseModel):
    """`POST /v1/listings/{id}/feedback` (LST-6)."""

    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5, description="1 to 5 stars.")
    comment: str | None = Field(None, max_length=2_000, description="Public comment.")


class CallRequest(BaseModel):
    """A call through a tracking number, as the telephony provider reports it (LST-5)."""

    model_config = ConfigDict(extra="forbid")

    caller: str = Field(pattern=PHONE, description="The caller's number; stored only hashed.")
    duration_seconds: int = Field(ge=0, le=86_400, description="Length of the call.")


def _path(listing_id: str, suffix: str = "") -> str:
    return internal_path("/internal/listings/{listing_id}" + suffix, listing_id=listing_id)


@router.post("/v1/listings", status_code=201, responses={401: ERR, 403: ERR, 422: ERR})
async def create_listing(body: ListingRequest, session: CurrentSession, ups: Ups) -> Response:
    """Post a vacancy (employers), a profile or an ad (members) (LST-1)."""
    return forward(await ups.call("listings", "POST", "/internal/listings",
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/listings", responses={422: ERR})
async def search_listings(
    session: OptionalSession, ups: Ups,
    q: str | None = Query(None, max_length=200, description="Words (Dutch forms, prefixes)."),
    city: str | None = Query(None, max_length=100, description="Place of the Netherlands."),
    radius_km: float | None = Query(None, ge=0, le=300, description="Radius around the place."),
    kind: Literal["vacancy", "profile", "ad"] | None = Query(None, description="Only this kind."),
    sort: Literal["newest", "best"] = Query("newest", description="Order."),
    cursor: str | None = Query(None, max_length=500, description="next_cursor of a page."),
    limit: int = Query(20, ge=1, le=50, description="Items per page."),
    near_lat: float | None = Query(None, ge=50.0, le=54.0, description=(
        "Exact position (latitude); used only with the member's exact_geolocation consent.")),
    near_lon: float | None = Query(None, ge=3.0, le=8.0, description=(
        "Exact position (longitude); used only with the member's exact_geolocation consent.")),
) -> Response:
    """Published listings; with a token the search is the member's usage data (LST-2, LST-3).

    An exact position searches around it only for a signed-in member who granted
    ``exact_geolocation`` (CNS-2); otherwise it is ignored and never kept.
    """
    near = ({"lat": near_lat, "lon": near_lon}
            if near_lat is not None and near_lon is not None else None)
    body = {"q": q, "city": city, "radius_km": radius_km, "kind": kind, "sort": sort,
            "cursor": cursor, "limit": limit, "near": near}
    resp = await ups.call("listings", "POST", "/internal/search", json=body,
                          headers=session.headers() if session else None)
    if resp.status_code == 200:  # the page as the service wrote it: no second parse
        return Response(resp.content, media_type="application/json")
    return forward(resp)


@router.get("/v1/listings/{listing_id}", responses={404: ERR})
async def get_listing(listing_id: ListingId, session: OptionalSession, ups: Ups) -> Response:
    """A published listing (or one's own); the phone as its tracking number (LST-5)."""
    return forward(await ups.call("listings", "GET", _path(listing_id),
                                  headers=session.headers() if session else None))


@router.patch("/v1/listings/{listing_id}", responses={401: ERR, 404: ERR, 422: ERR})
async def edit_listing(listing_id: ListingId, body: ListingUpdate, session: CurrentSession,
                       ups: Ups) -> Response:
    """Edit one's own listing (LST-1)."""
    return forward(await ups.call("listings", "PATCH", _path(listing_id),
                                  json=body.model_dump(exclude_unset=True),
                                  headers=session.headers()))


@router.post("/v1/listings/{listing_id}/publish", responses={401: ERR, 404: ERR})
async def publish_listing(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """Publish one's own listing (LST-1)."""
    return forward(await ups.call("listings", "POST", _path(listing_id, "/publish"),
                                  headers=session.headers()))


@router.post("/v1/listings/{listing_id}/unpublish", responses={401: ERR, 404: ERR})
async def unpublish_listing(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """Unpublish one's own listing: its text leaves search (LST-1, API.md)."""
    return forward(await ups.call("listings", "POST", _path(listing_id, "/unpublish"),
                                  headers=session.headers()))


@router.delete("/v1/listings/{listing_id}", status_code=204, responses={401: ERR, 404: ERR})
async def delete_listing(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """Delete one's own listing (LST-1)."""
    return forward(await ups.call("listings", "DELETE", _path(listing_id),
                                  headers=session.headers()))


@router.get("/v1/me/listings", responses={401: ERR})
async def my_listings(session: CurrentSession, ups: Ups) -> Response:
    """One's own listings in every state."""
    return forward(await ups.call("listings", "GET", "/internal/me/listings",
                                  headers=session.headers()))


@router.post("/v1/listings/{listing_id}/favourite", status_code=204,
             responses={401: ERR, 404: ERR})
async def favourite(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """Mark a listing as favourite: usage data of the member (LST-3)."""
    return forward(await ups.call("listings", "POST", _path(listing_id, "/favourite"),
                                  headers=session.headers()))


@router.get("/v1/me/favourites", responses={401: ERR})
async def my_favourites(session: CurrentSession, ups: Ups) -> Response:
    """One's favourites (LST-3)."""
    return forward(await ups.call("listings", "GET", "/internal/me/favourites",
                                  headers=session.headers()))


@router.post("/v1/listings/{listing_id}/applications", status_code=201,
             responses={401: ERR, 404: ERR, 409: ERR, 422: ERR})
async def apply(listing_id: ListingId, body: ApplicationRequest, session: CurrentSession,
                ups: Ups) -> Response:
    """Apply, sharing only the chosen fields with the listing's owner (LST-4, SHR-1, SHR-2)."""
    return forward(await ups.call("listings", "POST", _path(listing_id, "/applications"),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/listings/{listing_id}/applications", responses={401: ERR, 404: ERR})
async def applications(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """The applications to one's own listing, each with exactly the shared fields."""
    return forward(await ups.call("listings", "GET", _path(listing_id, "/applications"),
                                  headers=session.headers()))


@router.get("/v1/me/disclosures", responses={401: ERR})
async def my_disclosures(session: CurrentSession, ups: Ups) -> Response:
    """Every disclosure of one's data: recipient, purpose, categories, legal basis (SHR-1)."""
    return forward(await ups.call("listings", "GET", "/internal/me/disclosures",
                                  headers=session.headers()))


@router.post("/v1/listings/{listing_id}/feedback", status_code=201,
             responses={401: ERR, 404: ERR, 422: ERR})
async def give_feedback(listing_id: ListingId, body: FeedbackRequest, session: CurrentSession,
                        ups: Ups) -> Response:
    """Rate or comment on a published listing; public under a pseudonym (LST-6)."""
    return forward(await ups.call("listings", "POST", _path(listing_id, "/feedback"),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/listings/{listing_id}/feedback")
async def feedback(listing_id: ListingId, ups: Ups) -> Response:
    """Public ratings and comments, under pseudonyms (LST-6)."""
    return forward(await ups.call("listings", "GET", _path(listing_id, "/feedback")))


@router.get("/v1/listings/{listing_id}/calls", responses={401: ERR, 404: ERR})
async def calls(listing_id: ListingId, session: CurrentSession, ups: Ups) -> Response:
    """Calls about one's own listing, pseudonymised (LST-5)."""
    return forward(await ups.call("listings", "GET", _path(listing_id, "/calls"),
                                  headers=session.headers()))


@router.post("/v1/call-tracking/{tracking_number}/calls", status_code=201,
             responses={401: ERR, 404: ERR, 422: ERR, 429: ERR})
async def record_call(
    tracking_number: TrackingNumber, body: CallRequest, request: Request, ups: Ups,
    x_telephony_timestamp: Annotated[str | None, Header(
        max_length=20, description="Unix seconds when the provider signed the report.")] = None,
    x_telephony_signature: Annotated[str | None, Header(
        max_length=100, description="`v1=` and the hex HMAC-SHA256 (README).")] = None,
) -> Response:
    """The telephony provider reports a call through a tracking number (LST-5), signed.

    The listings service checks the signature (it holds the provider's secret and the
    replay store), so the body goes on exactly as received, with the signature headers.
    """
    headers = {name: value for name, value in (
        ("x-telephony-timestamp", x_telephony_timestamp),
        ("x-telephony-signature", x_telephony_signature)) if value is not None}
    return forward(await ups.call("listings", "POST",
                                  internal_path("/internal/call-tracking/{number}/calls",
                                                number=tracking_number),
                                  content=await request.body(), headers=headers))
