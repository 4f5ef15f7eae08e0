"""Who may talk to whom about a listing (MSG-1), and what each participant sees."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from messaging.domain.errors import Invalid, NotFound, NotKnownYet, RateLimited


@dataclass(frozen=True, slots=True)
class Listing:
    """A listing as the listings events told this service."""

    listing_id: str
    owner_id: str
    published: bool


def check_new_conversation(caller: str, recipient: str, listing: Listing | None,
                           recipient_status: str | None) -> None:
    """A conversation is about a listing and between its owner and someone else.

    Anyone may write to the owner of a published listing; the owner may write to anyone
    about their own listing (an applicant, for instance).
    """
    if listing is None:
        raise NotFound("no such listing")
    if caller == recipient:
        raise Invalid("recipient_account_id: cannot start a conversation with oneself")
    if listing.owner_id not in (caller, recipient):
        raise Invalid("recipient_account_id: one participant must own the listing")
    if listing.owner_id != caller and not listing.published:
        raise NotFound("no such listing")
    if recipient_status is None:
        raise NotKnownYet("the recipient is not known to the messaging service yet")
    if recipient_status != "active":
        raise NotFound("no such recipient")


def participant_or_404(caller: str, participants: tuple[str, str] | None) -> str:
    """The other participant; a non-participant learns nothing (404, MSG-1)."""
    if participants is None or caller not in participants:
        raise NotFound("no such conversation")
    a, b = participants
    return b if caller == a else a


def check_rate(sent_in_window: list[datetime], now: datetime, limit: int,
               window: timedelta = timedelta(minutes=1)) -> None:
    """Refuse past ``limit`` messages in the sliding window, saying when to retry (MSG-4)."""
    recent = sorted(t for t in sent_in_window if t > now - window)
    if len(recent) >= limit:
        wait = recent[len(recent) - limit] + window - now
        raise RateLimited("too many messages; try again later",
                          max(1, int(wait.total_seconds() + 0.999)))


def normalised(text: str) -> str:
    """A text as compared for "one text to many recipients": case, spacing, width folded."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
