"""Retention by schedule (RET-2, RET-3, RET-4, RET-6, RET-7): which categories a clock ends.

Pure: given the register, what is known of one subject's categories (when collected, last
used, when the account closed), the consent purposes the member granted and the active
holds, decide per category whether its period has ended and what the register's end of life
is, or why it is held back. The scheduler persists and carries the decisions out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from retention.domain.register import CategoryEntry, DataRegister

Action = Literal["erase", "pseudonymise", "held"]


@dataclass(frozen=True, slots=True)
class CategoryUse:
    """When one subject's data of one category was collected and last used (RET-2)."""

    category: str
    collected_at: datetime
    last_used_at: datetime


@dataclass(frozen=True, slots=True)
class Hold:
    """An active legal hold: on the whole subject (``category`` None) or one category."""

    hold_id: str
    category: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule decides for one (subject, category); holds no personal data."""

    category: str
    action: Action
    period_ended_at: datetime
    hold_id: str | None = None


def period_end(entry: CategoryEntry, use: CategoryUse, account_closed_at: datetime | None,
               consented: frozenset[str]) -> datetime | None:
    """When the category's period ends; None while it cannot (an open account).

    A longer period the member consented to (RET-3) applies when the member granted one
    of the category's purposes and the register allows a longer period.
    """
    days = entry.retention_days
    if entry.max_with_consent_days is not None and consented & set(entry.purposes):
        days = entry.max_with_consent_days
    start = {"collected": use.collected_at, "last_used": use.last_used_at,
             "account_closed": account_closed_at}[entry.retention_from]
    return None if start is None else start + timedelta(days=days)


def due(register: DataRegister, uses: Iterable[CategoryUse], now: datetime,
        account_closed_at: datetime | None = None, consented: Iterable[str] = (),
        holds: Iterable[Hold] = (), done: Iterable[str] = ()) -> list[Decision]:
    """The categories of one subject whose period has ended by ``now`` (RET-2, RET-7).

    Categories the register lacks are skipped (RET-1's test keeps the register whole);
    ``done`` names categories already erased or pseudonymised. A hold on the subject or on
    the category turns the decision into ``held`` naming the hold (RET-4), so the answer
    can say why; a hold on another category does not hold this one back.
    """
    granted, finished = frozenset(consented), set(done)
    by_category: dict[str | None, str] = {}
    for hold in holds:
        by_category.setdefault(hold.category, hold.hold_id)
    out: list[Decision] = []
    for use in uses:
        entry = register.entries.get(use.category)
        if entry is None or use.category in finished:
            continue
        end = period_end(entry, use, account_closed_at, granted)
        if end is None or end > now:
            continue
        hold_id = by_category.get(use.category) or by_category.get(None)
        action: Action = "held" if hold_id else entry.end_of_life
        out.append(Decision(use.category, action, end, hold_id))
    return sorted(out, key=lambda d: d.category)


def held_categories(holds: Iterable[Hold], categories: Iterable[str]) -> dict[str, str]:
    """Which of ``categories`` an erasure must keep, and the hold that keeps each (RET-4).

    A subject-wide hold keeps every category; a category hold keeps only its category.
    """
    listed = list(holds)
    whole = next((h.hold_id for h in listed if h.category is None), None)
    per = {h.category: h.hold_id for h in listed if h.category is not None}
    return {c: whole or per[c] for c in categories if whole or c in per}


def pseudonym(key: bytes, category: str, value: str) -> str:
    """A stable keyed-HMAC token for a value (RET-6): equal values, equal tokens.

    The category is bound in so one category's tokens cannot be joined to another's.
    """
    if len(key) < 32:
        raise ValueError("the pseudonym key must be at least 32 bytes")
    mac = hmac.new(key, category.encode() + b"\x00" + value.encode(), hashlib.sha256)
    return "psn_" + mac.hexdigest()[:32]


def pseudonymise(key: bytes, category: str, fields: Mapping[str, str]) -> dict[str, str]:
    """Every field of a record replaced by its pseudonym (RET-6)."""
    return {name: pseudonym(key, category, value) for name, value in fields.items()}
