"""Applying to a listing: share only what the applicant chose, with the owner only (LST-4, SHR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.listings import ApplicationSubmitted, DataDisclosed, SharedFields
from listings.domain.errors import InvalidListing, NotFound

SHAREABLE = ("name", "email", "phone", "profile")
PURPOSE = "job_application"
LEGAL_BASIS = "consent"


@dataclass(frozen=True, slots=True)
class Applicant:
    """What the listings service knows of the applicant from the accounts events."""

    account_id: str
    name: str | None
    email: str | None
    phone: str | None
    username: str | None
    profile_listing_id: str | None


def shared_fields(applicant: Applicant, share: list[str]) -> SharedFields:
    """Exactly the fields chosen, nothing else (SHR-2); a field the member lacks is refused."""
    unknown = sorted(set(share) - set(SHAREABLE))
    if unknown:
        raise InvalidListing(f"cannot share: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in dict.fromkeys(share):
        if name == "profile":
            values["profile"] = {"username": applicant.username,
                                 "listing_id": applicant.profile_listing_id}
        else:
            values[name] = getattr(applicant, name)
            if values[name] is None:
                raise InvalidListing(f"the account has no {name} to share")
    return SharedFields(**values)


def apply(
    application_id: str, disclosure_id: str, listing_id: str, owner_id: str, owner_kind: str,
    listing_published: bool, applicant: Applicant, message: str | None, share: list[str],
) -> tuple[ApplicationSubmitted, DataDisclosed]:
    """The application and its disclosure record (SHR-1): recipient, purpose, basis, categories."""
    if not listing_published:
        raise NotFound("no such listing")
    if owner_id == applicant.account_id:
        raise InvalidListing("an owner cannot apply to their own listing")
    shared = shared_fields(applicant, share)
    submitted = ApplicationSubmitted(
        application_id=application_id, listing_id=listing_id, applicant_id=applicant.account_id,
        owner_id=owner_id, message=message, shared=shared,
    )
    disclosed = DataDisclosed(
        disclosure_id=disclosure_id, subject_id=applicant.account_id, recipient_id=owner_id,
        recipient_type="employer" if owner_kind == "employer" else "member", purpose=PURPOSE,
        categories=sorted([*shared.model_dump(exclude_none=True),
                           *(["message"] if message else [])]),
        legal_basis=LEGAL_BASIS,
        reference=application_id,
    )
    return submitted, disclosed
