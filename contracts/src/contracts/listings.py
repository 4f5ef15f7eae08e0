"""Events of the listings service (LST-*, SHR-1, SHR-2), published on ``listings.events.v1``.

A listing's text is personal data of its author in every event (encrypted under the
author's key); only the search projection holds it in plaintext while it is published.
Usage data (favourites, views, searches) is personal data of the member who made it.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Event
from contracts.personal import DataCategory, Erased, Personal

ListingKind = Literal["vacancy", "profile", "ad"]
ShareableField = Literal["name", "email", "phone", "profile"]
LegalBasis = Literal["consent", "contract", "legitimate_interest", "legal_obligation"]



_USAGE = Personal(DataCategory.USAGE, expiring=True)
"""Usage data is sealed under the member's monthly usage key: it ends by its period (RET-2)."""
_APPLICATION = Personal(DataCategory.APPLICATIONS, expiring=True)
"""An application is sealed under the applicant's monthly key: it ends by its period."""
_LISTING = Personal(DataCategory.LISTINGS, expiring=True)
"""A listing's text and place are sealed under the author's monthly key of the category: they
end in every store when the register's period after the author's last use is over."""

class SharedFields(BaseModel):
    """What an applicant chose to share with a listing's owner: only those fields (SHR-2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="Full name, if shared.")
    email: str | None = Field(None, description="E-mail address, if shared.")
    phone: str | None = Field(None, description="Phone number, if shared.")
    profile: dict[str, str | None] | None = Field(
        None, description="Public profile (username, profile listing), if shared.")


class _ListingsEvent(Event):
    producer: ClassVar[str] = "listings"


class ListingCreated(_ListingsEvent):
    """A member posted a profile or ad, or an employer a vacancy (LST-1)."""

    event_type: ClassVar[str] = "listings.ListingCreated"

    listing_id: str = Field(description="The new listing.")
    owner_id: str = Field(description="The author's account; the event's data subject.")
    kind: ListingKind = Field(description="vacancy, profile or ad.")
    title: Annotated[str, _LISTING] = Field(description="Title.")
    description: Annotated[str, _LISTING] = Field(
        description="Free text of the listing.")
    city: Annotated[str, _LISTING] = Field(
        description="General location: the place as written.")
    postcode: Annotated[str | None, _LISTING] = Field(
        None, description="Postcode area (PC4) or full postcode, optional.")
    phone: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="Phone number, E.164; shown only as a tracking number (LST-5).")
    place_id: int | None = Field(None, description="Geonames id of the resolved place.")


class ListingEdited(_ListingsEvent):
    """The owner changed a listing; fields that are ``None`` did not change (LST-1)."""

    event_type: ClassVar[str] = "listings.ListingEdited"

    listing_id: str = Field(description="The listing.")
    title: Annotated[str | None, _LISTING] = Field(
        None, description="New title.")
    description: Annotated[str | None, _LISTING] = Field(
        None, description="New description.")
    city: Annotated[str | None, _LISTING] = Field(
        None, description="New place.")
    postcode: Annotated[str | None, _LISTING] = Field(
        None, description="New postcode.")
    phone: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="New phone number.")
    place_id: int | None = Field(None, description="Geonames id of the new place.")
    removed: list[str] = Field(
        default_factory=list, description="Optional fields the owner removed (postcode, phone).")


class ListingPublished(_ListingsEvent):
    """The listing became public and searchable (LST-1, LST-2)."""

    event_type: ClassVar[str] = "listings.ListingPublished"

    listing_id: str = Field(description="The listing.")


class ListingUnpublished(_ListingsEvent):
    """The listing left search; its text left every projection (LST-1, API.md)."""

    event_type: ClassVar[str] = "listings.ListingUnpublished"

    listing_id: str = Field(description="The listing.")


class ListingDeleted(_ListingsEvent):
    """The owner deleted the listing (LST-1)."""

    event_type: ClassVar[str] = "listings.ListingDeleted"

    listing_id: str = Field(description="The listing.")


class ListingFavourited(_ListingsEvent):
    """A member marked a listing as favourite: usage data of the member (LST-3)."""

    event_type: ClassVar[str] = "listings.ListingFavourited"

    member_id: str = Field(description="The member; the event's data subject.")
    listing_id: Annotated[str, _USAGE] = Field(
        description="Which listing.")


class ListingViewed(_ListingsEvent):
    """A signed-in member opened a listing: usage data of the member (LST-3)."""

    event_type: ClassVar[str] = "listings.ListingViewed"

    member_id: str = Field(description="The member; the event's data subject.")
    listing_id: Annotated[str, _USAGE] = Field(
        description="Which listing.")


class SearchMade(_ListingsEvent):
    """A signed-in member searched: usage data of the member (LST-3)."""

    event_type: ClassVar[str] = "listings.SearchMade"

    member_id: str = Field(description="The member; the event's data subject.")
    query: Annotated[str | None, _USAGE] = Field(
        None, description="The search words.")
    city: Annotated[str | None, _USAGE] = Field(
        None, description="The place searched around.")
    radius_km: Annotated[float | Erased | None, _USAGE] = Field(
        None, description="The radius searched.")


class ApplicationSubmitted(_ListingsEvent):
    """A member applied to a listing, sharing only the fields chosen (LST-4, SHR-2)."""

    event_type: ClassVar[str] = "listings.ApplicationSubmitted"

    application_id: str = Field(description="The application.")
    listing_id: str = Field(description="The listing applied to.")
    applicant_id: str = Field(description="The applicant; the event's data subject.")
    owner_id: str = Field(description="The listing's owner: the only recipient.")
    message: Annotated[str | None, _APPLICATION] = Field(
        None, description="The applicant's message.")
    shared: Annotated[SharedFields | Erased, _APPLICATION] = Field(
        description="The fields shared, read from the accounts events when applying.")


class DataDisclosed(_ListingsEvent):
    """A disclosure of a subject's data to a recipient, for the recipients register (SHR-1)."""

    event_type: ClassVar[str] = "listings.DataDisclosed"

    disclosure_id: str = Field(description="The disclosure.")
    subject_id: str = Field(description="Whose data was disclosed.")
    recipient_id: str = Field(description="The recipient's account.")
    recipient_type: Literal["employer", "member"] = Field(description="Kind of recipient.")
    purpose: str = Field(description="Why, e.g. job_application.")
    categories: list[str] = Field(description="Data categories disclosed (field names).")
    legal_basis: LegalBasis = Field(description="Legal basis of the disclosure.")
    reference: str = Field(description="What caused it (the application id).")


class FeedbackGiven(_ListingsEvent):
    """A member rated or commented on a listing; public, under the author's pseudonym (LST-6)."""

    event_type: ClassVar[str] = "listings.FeedbackGiven"

    feedback_id: str = Field(description="The feedback.")
    listing_id: str = Field(description="The listing.")
    author_id: str = Field(description="The author; the event's data subject.")
    author_pseudonym: str = Field(description="Keyed pseudonym the feedback stays under.")
    rating: int = Field(ge=1, le=5, description="1 to 5 stars.")
    comment: Annotated[str | None, Personal(DataCategory.FEEDBACK, expiring=True)] = Field(
        None, description="The comment; erased with its author.")


class CallRecorded(_ListingsEvent):
    """A call through a listing's tracking number, pseudonymised only (LST-5)."""

    event_type: ClassVar[str] = "listings.CallRecorded"

    call_id: str = Field(description="The call.")
    listing_id: str = Field(description="The listing called about.")
    tracking_number: str = Field(description="The pseudonymised number that was dialled.")
    caller_pseudonym: str = Field(description="Keyed hash of the caller's number.")
    duration_seconds: int = Field(ge=0, description="How long the call lasted.")
