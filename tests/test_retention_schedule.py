"""Retention by schedule decided on the real register (RET-2, RET-3, RET-4, RET-6, RET-7).

Unit tests of the pure decision: which (subject, category) pairs a clock ends, with what
end of life, and which a hold keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retention.adapters.register import load_register
from retention.domain.schedule import (
    CategoryUse,
    Hold,
    due,
    held_categories,
    pseudonym,
    pseudonymise,
)

T0 = datetime(2027, 1, 1, tzinfo=UTC)
REGISTER = load_register()


def uses(*categories: str, at: datetime = T0) -> list[CategoryUse]:
    """Each category collected and last used at ``at``."""
    return [CategoryUse(c, at, at) for c in categories]


@pytest.mark.unit
def test_ret2_clock_past_a_period_ends_exactly_that_category() -> None:
    """RET-2: location (30 days) ends at day 30; device (90) and listings (365) stay."""
    held = uses("location", "device", "listings")
    assert due(REGISTER, held, T0 + timedelta(days=29)) == []
    decisions = due(REGISTER, held, T0 + timedelta(days=30))
    assert [(d.category, d.action) for d in decisions] == [("location", "erase")]
    assert decisions[0].period_ended_at == T0 + timedelta(days=30)
    assert due(REGISTER, held, T0 + timedelta(days=31), done=["location"]) == []


@pytest.mark.unit
def test_ret2_last_used_counts_from_the_last_use() -> None:
    """RET-2: a listing used again is kept a period from its last use."""
    listing = [CategoryUse("listings", T0, T0 + timedelta(days=200))]
    assert due(REGISTER, listing, T0 + timedelta(days=400)) == []
    assert [d.category for d in due(REGISTER, listing, T0 + timedelta(days=565))] == [
        "listings"]


@pytest.mark.unit
def test_ret2_account_closed_categories_wait_for_the_close() -> None:
    """RET-2: identity is kept while the account is open, a year after it closes."""
    identity = uses("identity")
    assert due(REGISTER, identity, T0 + timedelta(days=3650)) == []
    closed = T0 + timedelta(days=10)
    assert due(REGISTER, identity, closed + timedelta(days=364), closed) == []
    assert [d.action for d in due(REGISTER, identity, closed + timedelta(days=365),
                                  closed)] == ["erase"]


@pytest.mark.unit
def test_ret3_sensitive_shorter_and_consented_longer_period_honoured() -> None:
    """RET-3: sensitive categories end sooner; a consented longer period is honoured."""
    assert REGISTER.entry("location").retention_days < REGISTER.entry("device").retention_days
    usage = uses("usage")
    purpose = REGISTER.entry("usage").purposes[0]
    day_181 = T0 + timedelta(days=181)
    assert [d.category for d in due(REGISTER, usage, day_181)] == ["usage"]
    assert due(REGISTER, usage, day_181, consented=[purpose]) == []
    assert due(REGISTER, usage, day_181, consented=["unrelated_purpose"]) != []
    longer = REGISTER.entry("usage").max_with_consent_days
    assert longer is not None
    assert due(REGISTER, usage, T0 + timedelta(days=longer), consented=[purpose]) != []


@pytest.mark.unit
def test_ret4_category_hold_keeps_only_that_category() -> None:
    """RET-4: a hold on one category keeps it (named); the others go as the register says."""
    held = uses("location", "call_tracking")
    decisions = due(REGISTER, held, T0 + timedelta(days=31),
                    holds=[Hold("hold-1", "location")])
    assert [(d.category, d.action, d.hold_id) for d in decisions] == [
        ("call_tracking", "erase", None), ("location", "held", "hold-1")]
    whole = due(REGISTER, held, T0 + timedelta(days=31), holds=[Hold("hold-2", None)])
    assert {d.action for d in whole} == {"held"}
    assert held_categories([Hold("h1", "messages")], ["messages", "identity"]) == {
        "messages": "h1"}
    assert held_categories([Hold("h2", None)], ["messages", "identity"]) == {
        "messages": "h2", "identity": "h2"}


@pytest.mark.unit
def test_ret6_pseudonymised_fields_are_stable_keyed_tokens() -> None:
    """RET-6: the same value gives the same token; another key or category another."""
    key, other = b"k" * 32, b"o" * 32
    decisions = due(REGISTER, uses("feedback"), T0 + timedelta(days=730))
    assert [d.action for d in decisions] == ["pseudonymise"]
    first = pseudonymise(key, "feedback", {"author": "member-42", "text": "great"})
    assert first == pseudonymise(key, "feedback", {"author": "member-42", "text": "great"})
    assert first["author"].startswith("psn_") and "member-42" not in first["author"]
    assert pseudonym(other, "feedback", "member-42") != first["author"]
    assert pseudonym(key, "usage", "member-42") != first["author"]
    with pytest.raises(ValueError):
        pseudonym(b"short", "feedback", "member-42")


@pytest.mark.unit
def test_ret7_every_category_of_the_register_ends_by_its_period() -> None:
    """RET-7: nothing is kept forever: past every period, every category is decided."""
    closed = T0
    longest = max(e.retention_days for e in REGISTER.entries.values())
    decisions = due(REGISTER, uses(*REGISTER.entries), T0 + timedelta(days=longest), closed)
    assert {d.category for d in decisions} == set(REGISTER.entries)
    assert all(d.action == REGISTER.entry(d.category).end_of_life for d in decisions)
    assert due(REGISTER, uses("not_in_register"), T0 + timedelta(days=longest)) == []
