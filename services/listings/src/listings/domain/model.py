"""The listing aggregate: who may post what, and its life from draft to deletion (LST-1)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from contracts.envelope import Event
from contracts.listings import (
    ListingCreated,
    ListingDeleted,
    ListingEdited,
    ListingKind,
    ListingPublished,
    ListingUnpublished,
)
from listings.domain.errors import EmployerRequired, InvalidListing, MemberRequired, NotFound

Status = Literal["draft", "published", "unpublished", "deleted"]
CONTENT_FIELDS = ("title", "description", "city", "postcode", "phone", "place_id")


@dataclass(frozen=True, slots=True)
class Content:
    """What a listing says and where: personal data of its author in every event."""

    title: str
    description: str
    city: str
    postcode: str | None = None
    phone: str | None = None
    place_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The content as plain values (to seal under the author's key)."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


def check_kind(kind: ListingKind, owner_kind: str) -> None:
    """Employers post vacancies; members post profiles and ads (LST-1)."""
    if kind == "vacancy" and owner_kind != "employer":
        raise EmployerRequired("only employer accounts may post vacancies")
    if kind != "vacancy" and owner_kind != "member":
        raise MemberRequired("only member accounts may post profiles and ads")


def _check_text(content: Content) -> None:
    if not content.title.strip() or not content.description.strip():
        raise InvalidListing("title and description must not be blank")


@dataclass
class Listing:
    """A vacancy, profile or ad; the owner alone changes it."""

    listing_id: str
    owner_id: str
    kind: ListingKind
    status: Status
    content: Content
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def create(
        cls, listing_id: str, owner_id: str, owner_kind: str, kind: ListingKind,
        content: Content, publish: bool,
    ) -> Listing:
        """A new listing, published at once unless ``publish`` is false."""
        check_kind(kind, owner_kind)
        _check_text(content)
        listing = cls(listing_id, owner_id, kind, "draft", content)
        listing.events.append(ListingCreated(
            listing_id=listing_id, owner_id=owner_id, kind=kind, **content.as_dict()))
        if publish:
            listing.publish(owner_id)
        return listing

    def _owned_by(self, account_id: str) -> None:
        if account_id != self.owner_id or self.status == "deleted":
            raise NotFound("no such listing")

    @property
    def published(self) -> bool:
        """Whether the listing is public and searchable."""
        return self.status == "published"

    def edit(self, account_id: str, changes: dict[str, Any]) -> None:
        """Change some content fields; ``phone: None`` in ``changes`` removes the number."""
        self._owned_by(account_id)
        unknown = set(changes) - set(CONTENT_FIELDS)
        if unknown:
            raise InvalidListing(f"cannot change: {', '.join(sorted(unknown))}")
        required = [k for k in ("title", "description", "city") if k in changes
                    and changes[k] is None]
        if required:
            raise InvalidListing(f"cannot remove: {', '.join(required)}")
        updated = replace(self.content, **changes)
        _check_text(updated)
        if updated == self.content:
            return
        self.content = updated
        diff = {k: v for k, v in changes.items() if v is not None}
        removed = sorted(k for k, v in changes.items() if v is None)
        self.events.append(ListingEdited(listing_id=self.listing_id, removed=removed, **diff))

    def publish(self, account_id: str) -> None:
        """Make the listing public (idempotent)."""
        self._owned_by(account_id)
        if self.status != "published":
            self.status = "published"
            self.events.append(ListingPublished(listing_id=self.listing_id))

    def unpublish(self, account_id: str) -> None:
        """Take the listing out of search (idempotent)."""
        self._owned_by(account_id)
        if self.status == "published":
            self.status = "unpublished"
            self.events.append(ListingUnpublished(listing_id=self.listing_id))

    def delete(self, account_id: str) -> None:
        """Delete the listing; it answers 404 from now on."""
        self._owned_by(account_id)
        self.status = "deleted"
        self.events.append(ListingDeleted(listing_id=self.listing_id))
