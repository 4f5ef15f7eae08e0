"""Commands of the consent service: imperative, already parsed from HTTP or events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SetConsent:
    """Grant or withdraw consent, object or lift an objection (CNS-2, CNS-3, PRV-4)."""

    subject_id: str
    purpose: str
    granted: bool
    source: str = "web"
    channel: str | None = "web"


@dataclass(frozen=True)
class SetPreferences:
    """Change channel-and-kind preferences (CNS-1)."""

    subject_id: str
    changes: Mapping[str, Mapping[str, bool]]
    source: str = "web"


@dataclass(frozen=True)
class SetRestriction:
    """Restrict processing of a member's data or lift it (PRV-6)."""

    subject_id: str
    restricted: bool
    source: str = "member"
    request_id: str | None = None


@dataclass(frozen=True)
class SetCookies:
    """Cookie and tracking consent of a member or an anonymous visitor (CNS-8)."""

    subject_id: str
    analytics: bool
    marketing: bool
    client_address: str | None = None
    """Only feeds the per-address limit on cookie writes (issue 26); never stored."""


@dataclass(frozen=True)
class Unsubscribe:
    """Withdraw (or object to) the one purpose a signed token names (CNS-4)."""

    token: str


@dataclass(frozen=True)
class StaffReadLedger:
    """A DPO reads a member's ledger and state at an instant (CNS-5, SEC-2)."""

    staff_account_id: str
    subject_id: str
    purpose: str
    as_of: datetime | None = None
