"""Commands of the listings service: imperative, one handler each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.listings import ListingKind


@dataclass(frozen=True)
class CreateListing:
    """Post a vacancy, profile or ad (LST-1)."""

    owner_id: str
    kind: ListingKind
    title: str
    description: str
    city: str
    postcode: str | None = None
    phone: str | None = None
    publish: bool = True


@dataclass(frozen=True)
class EditListing:
    """Change some fields of one's own listing (LST-1)."""

    account_id: str
    listing_id: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeListingStatus:
    """Publish, unpublish or delete one's own listing (LST-1)."""

    account_id: str
    listing_id: str
    action: str


@dataclass(frozen=True)
class Search:
    """Search published listings (LST-2); with ``member_id`` it is usage data (LST-3)."""

    q: str | None = None
    city: str | None = None
    radius_km: float | None = None
    kind: str | None = None
    sort: str = "newest"
    cursor: str | None = None
    limit: int = 20
    member_id: str | None = None
    near: tuple[float, float] | None = None


@dataclass(frozen=True)
class Apply:
    """Apply to a listing sharing only the chosen fields (LST-4, SHR-2)."""

    applicant_id: str
    listing_id: str
    share: list[str]
    message: str | None = None


@dataclass(frozen=True)
class GiveFeedback:
    """Rate or comment on a listing (LST-6)."""

    author_id: str
    listing_id: str
    rating: int
    comment: str | None = None


@dataclass(frozen=True)
class RecordCall:
    """A call came in through a tracking number (LST-5)."""

    tracking_number: str
    caller: str
    duration_seconds: int
    signature: str
    """The provider's verified signature of the report: used once (``domain.webhook``)."""
