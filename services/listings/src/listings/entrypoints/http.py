"""The internal HTTP API (the gateway is its one client): parse, call, answer.

The gateway validates bodies and vouches for the caller in ``X-Account-Id`` (signed).
Search takes its words in a POST body, so they never sit in a URL, an access log or a span.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from contracts.listings import ListingKind
from kernel.http import ApiError, error_response
from listings.domain import commands
from listings.domain.errors import ListingsError
from listings.service_layer import applications, calls, feedback, usage
from listings.service_layer import listings as handlers
from listings.service_layer import search as searching
from listings.service_layer.context import Context

router = APIRouter(prefix="/internal", tags=["listings"])


def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A domain refusal as the API's JSON error (messages never quote input)."""
    assert isinstance(exc, ListingsError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(exc.status, exc.code, exc.message, headers)


async def context(request: Request) -> Context:
    """The handlers' context, once the service has started."""
    runtime = getattr(request.app.state, "runtime", None)
    ctx = runtime.extra.get("ctx") if runtime is not None else None
    if ctx is None:
        raise ApiError(503, "unavailable", "the listings service is starting", {"Retry-After": "1"})
    return ctx  # type: ignore[no-any-return]


def _account(x_account_id: Annotated[str | None, Header()] = None) -> str:
    if not x_account_id:
        raise ApiError(401, "unauthenticated", "a signed-in member is required")
    return x_account_id


def _viewer(x_account_id: Annotated[str | None, Header()] = None) -> str | None:
    return x_account_id or None


Ctx = Annotated[Context, Depends(context)]
Account = Annotated[str, Depends(_account)]
Viewer = Annotated[str | None, Depends(_viewer)]


class Location(BaseModel):
    """General location of a listing."""

    city: str
    postcode: str | None = None


class ListingBody(BaseModel):
    """A new listing, validated by the gateway."""

    kind: ListingKind
    title: str
    description: str
    location: Location
    phone: str | None = None
    publish: bool = True


class Near(BaseModel):
    """An exact position (personal data: used only with consent, never kept)."""

    lat: float
    lon: float


class SearchBody(BaseModel):
    """A search (words in the body, never in a URL)."""

    q: str | None = None
    city: str | None = None
    radius_km: float | None = None
    kind: str | None = None
    sort: str = "newest"
    cursor: str | None = None
    limit: int = 20
    near: Near | None = None


class ApplicationBody(BaseModel):
    """An application."""

    message: str | None = None
    share: list[str] = Field(default_factory=list)


class FeedbackBody(BaseModel):
    """A rating with an optional comment."""

    rating: int
    comment: str | None = None


class CallBody(BaseModel):
    """A call reported by the telephony provider."""

    caller: str
    duration_seconds: int = Field(ge=0)


@router.post("/listings", status_code=201)
async def create(body: ListingBody, account: Account, ctx: Ctx) -> dict[str, str]:
    """Post a listing (LST-1)."""
    listing_id = await handlers.create_listing(commands.CreateListing(
        account, body.kind, body.title, body.description, body.location.city,
        body.location.postcode, body.phone, body.publish), ctx)
    return {"listing_id": listing_id}


@router.post("/search")
async def search(body: SearchBody, viewer: Viewer, ctx: Ctx) -> Response:
    """Search published listings (LST-2); signed in, it is usage data (LST-3).

    The hottest route: the page is serialised once, by orjson (TARGETS.md, p99 <= 50 ms).
    """
    fields = body.model_dump(exclude={"near"})
    near = (body.near.lat, body.near.lon) if body.near else None
    page = await searching.search(commands.Search(**fields, member_id=viewer, near=near), ctx)
    return Response(orjson.dumps(page), media_type="application/json")


@router.get("/listings/{listing_id}")
async def get(listing_id: str, viewer: Viewer, ctx: Ctx) -> dict[str, Any]:
    """A published listing, or one's own; a signed-in view of another's is usage data."""
    listing = await handlers.get_listing(listing_id, viewer, ctx)
    owner = listing.owner_id == viewer
    if viewer is not None and not owner:
        await usage.viewed(viewer, listing_id, ctx)
    return handlers.view(listing, ctx, owner)


@router.patch("/listings/{listing_id}")
async def edit(listing_id: str, body: dict[str, Any], account: Account, ctx: Ctx
               ) -> dict[str, Any]:
    """Edit one's own listing (fields sent change; ``null`` removes postcode or phone)."""
    changes = dict(body)
    if "location" in changes:
        location = changes.pop("location") or {}
        changes.update({k: location[k] for k in ("city", "postcode") if k in location})
    listing = await handlers.edit_listing(
        commands.EditListing(account, listing_id, changes), ctx)
    return handlers.view(listing, ctx, True)


async def _status(listing_id: str, action: str, account: str, ctx: Context) -> dict[str, Any]:
    listing = await handlers.change_status(
        commands.ChangeListingStatus(account, listing_id, action), ctx)
    return handlers.view(listing, ctx, True)


@router.post("/listings/{listing_id}/publish")
async def publish(listing_id: str, account: Account, ctx: Ctx) -> dict[str, Any]:
    """Publish one's own listing: it becomes searchable."""
    return await _status(listing_id, "publish", account, ctx)


@router.post("/listings/{listing_id}/unpublish")
async def unpublish(listing_id: str, account: Account, ctx: Ctx) -> dict[str, Any]:
    """Unpublish one's own listing: its text leaves search."""
    return await _status(listing_id, "unpublish", account, ctx)


@router.delete("/listings/{listing_id}", status_code=204)
async def delete(listing_id: str, account: Account, ctx: Ctx) -> Response:
    """Delete one's own listing."""
    await handlers.change_status(commands.ChangeListingStatus(account, listing_id, "delete"), ctx)
    return Response(status_code=204)


@router.get("/me/listings")
async def mine(account: Account, ctx: Ctx) -> dict[str, Any]:
    """One's own listings, in every state."""
    return {"items": [handlers.view(x, ctx, True)
                      for x in await handlers.own_listings(account, ctx)]}


@router.post("/listings/{listing_id}/favourite", status_code=204)
async def favourite(listing_id: str, account: Account, ctx: Ctx) -> Response:
    """Mark a listing as favourite (LST-3)."""
    await usage.favourite(account, listing_id, ctx)
    return Response(status_code=204)


@router.get("/me/favourites")
async def favourites(account: Account, ctx: Ctx) -> dict[str, Any]:
    """One's favourites (LST-3)."""
    return {"items": await usage.favourites(account, ctx)}


@router.post("/listings/{listing_id}/applications", status_code=201)
async def apply(listing_id: str, body: ApplicationBody, account: Account, ctx: Ctx
                ) -> dict[str, str]:
    """Apply, sharing only the chosen fields with the owner (LST-4, SHR-1, SHR-2)."""
    application_id = await applications.apply(
        commands.Apply(account, listing_id, body.share, body.message), ctx)
    return {"application_id": application_id}


@router.get("/listings/{listing_id}/applications")
async def applications_of(listing_id: str, account: Account, ctx: Ctx) -> dict[str, Any]:
    """The applications to one's own listing; others' answer 404."""
    return {"items": await applications.applications_of(listing_id, account, ctx)}


@router.get("/me/disclosures")
async def disclosures(account: Account, ctx: Ctx) -> dict[str, Any]:
    """Who received the member's data, why, on what basis (SHR-1)."""
    return {"items": await applications.disclosures(account, ctx)}


@router.post("/listings/{listing_id}/feedback", status_code=201)
async def give_feedback(listing_id: str, body: FeedbackBody, account: Account, ctx: Ctx
                        ) -> dict[str, str]:
    """Rate or comment on a listing (LST-6)."""
    feedback_id = await feedback.give(
        commands.GiveFeedback(account, listing_id, body.rating, body.comment), ctx)
    return {"feedback_id": feedback_id}


@router.get("/listings/{listing_id}/feedback")
async def feedback_of(listing_id: str, ctx: Ctx) -> dict[str, Any]:
    """Public feedback under pseudonyms (LST-6)."""
    return await feedback.of_listing(listing_id, ctx)


@router.post("/call-tracking/{tracking_number}/calls", status_code=201)
async def record_call(
    tracking_number: str, request: Request, ctx: Ctx,
    x_telephony_timestamp: Annotated[str | None, Header()] = None,
    x_telephony_signature: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    """A call through a tracking number (LST-5), pseudonymised; signed by the provider.

    The signature covers the body exactly as the provider sent it (the gateway passes it
    on unchanged), so the body is read raw and parsed only once the signature holds.
    """
    raw = await request.body()
    signature = await calls.accept_report(
        tracking_number, x_telephony_timestamp, x_telephony_signature, raw, ctx)
    try:
        body = CallBody.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid", "the call report is not valid") from exc
    call_id = await calls.record_call(commands.RecordCall(
        tracking_number, body.caller, body.duration_seconds, signature), ctx)
    return {"call_id": call_id}


@router.get("/listings/{listing_id}/calls")
async def calls_of(listing_id: str, account: Account, ctx: Ctx) -> dict[str, Any]:
    """The calls about one's own listing (LST-5)."""
    return {"items": await calls.calls_of(listing_id, account, ctx)}
