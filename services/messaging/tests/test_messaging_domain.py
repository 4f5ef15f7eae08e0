"""The messaging service's pure rules (MSG-1, MSG-2, MSG-4, SEC-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messaging.domain.errors import Invalid, NotFound, NotKnownYet, RateLimited
from messaging.domain.messages import record
from messaging.domain.rules import (
    Listing,
    check_new_conversation,
    check_rate,
    normalised,
    participant_or_404,
)
from messaging.scanning.api import Reason, Verdict

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LISTING = Listing("l1", "owner", published=True)


def test_msg1_anyone_writes_to_the_owner_of_a_published_listing() -> None:
    check_new_conversation("writer", "owner", LISTING, "active")
    check_new_conversation("owner", "applicant", Listing("l1", "owner", False), "active")


@pytest.mark.parametrize(("caller", "recipient", "listing", "status", "error"), [
    ("a", "b", LISTING, "active", Invalid),  # neither owns the listing
    ("owner", "owner", LISTING, "active", Invalid),
    ("writer", "owner", None, "active", NotFound),
    ("writer", "owner", Listing("l1", "owner", False), "active", NotFound),
    ("writer", "owner", LISTING, None, NotKnownYet),
    ("writer", "owner", LISTING, "closed", NotFound),
])
def test_msg1_conversations_refused(caller: str, recipient: str, listing: Listing | None,
                                    status: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_new_conversation(caller, recipient, listing, status)


def test_msg1_a_non_participant_gets_404_and_learns_nothing() -> None:
    assert participant_or_404("a", ("a", "b")) == "b"
    assert participant_or_404("b", ("a", "b")) == "a"
    for pair in (("a", "b"), None):
        with pytest.raises(NotFound) as err:
            participant_or_404("c", pair)
        assert err.value.message == "no such conversation"


def test_msg4_ten_a_minute_pass_the_eleventh_waits_until_the_oldest_leaves() -> None:
    sent = [NOW - timedelta(seconds=50 - i) for i in range(9)]
    check_rate(sent, NOW, 10)
    with pytest.raises(RateLimited) as err:
        check_rate([*sent, NOW], NOW, 10)
    assert err.value.retry_after == 10  # the oldest (50 s ago) leaves the window in 10 s
    old = [NOW - timedelta(seconds=61)] * 30
    check_rate(old, NOW, 10)  # only the last minute counts


def test_sec3_texts_compare_without_case_width_or_spacing() -> None:
    assert normalised("  Earn  500 EURO\tnow ") == normalised("earn 500 euro now")
    assert normalised("\uff26\uff35\uff2c\uff2c width") == "full width"


def test_msg2_a_blocked_message_records_its_verdict_and_no_body() -> None:
    verdict = Verdict("blocked", (Reason("phishing", "lookalike_domain", 0.9, ("rab0bank.nl",)),))
    scanned, posted = record("m1", "c1", "s", "r", "log in at rab0bank.nl", 0, verdict)
    assert (scanned.outcome, posted.outcome, posted.body) == ("blocked", "blocked", None)
    assert scanned.reasons[0].indicators == ["rab0bank.nl"]
    _, kept = record("m2", "c1", "s", "r", "hello", 1, Verdict("quarantined"))
    assert (kept.body, kept.attachments) == ("hello", 1)
