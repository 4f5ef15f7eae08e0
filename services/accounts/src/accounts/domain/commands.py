"""What members and staff ask the accounts service to do (imperative)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SignUp:
    """Create an account and accept the Terms of Use (ACC-1, ACC-2, ACC-3)."""

    email: str
    password: str
    name: str
    username: str
    accept_terms_version: str
    kind: str = "member"
    phone: str | None = None
    address: dict[str, Any] | None = None
    date_of_birth: str | None = None
    gender: str | None = None
    interests: list[str] | None = None
    client_address: str | None = None
    """Only feeds the sign-up counter (issue 26); never stored."""


@dataclass(frozen=True)
class LogIn:
    """Open a session (ACC-4); ``client_address`` only feeds the brute-force counter."""

    email: str
    password: str
    remember_me: bool
    client_address: str | None = None


@dataclass(frozen=True)
class LogOut:
    """End one session at once."""

    session_id: str
    account_id: str | None = None


@dataclass(frozen=True)
class Reauthenticate:
    """Confirm the password to open the step-up window; ``client_address`` as for log-in."""

    session_id: str
    password: str
    client_address: str | None = None


@dataclass(frozen=True)
class Rectify:
    """Change or remove some of the member's data (ACC-8); ``None`` values remove."""

    account_id: str
    session_id: str
    changes: dict[str, Any] = field(default_factory=dict)
    new_password: str | None = None


@dataclass(frozen=True)
class RegisterDevice:
    """Register a device for push notifications (ACC-5)."""

    account_id: str
    device_id: str
    device_type: str
    push_token: str


@dataclass(frozen=True)
class RemoveDevice:
    """Delete a device registration (ACC-5)."""

    account_id: str
    registration_id: str


@dataclass(frozen=True)
class LinkSocialIdentity:
    """Link an external identity; import only what the granted scopes allow (ACC-6)."""

    account_id: str
    provider: str
    provider_subject: str
    granted_scopes: list[str]
    profile: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnlinkSocialIdentity:
    """Remove a social identity link (ACC-6)."""

    account_id: str
    link_id: str


@dataclass(frozen=True)
class RecordIdentityVerification:
    """Set the identity-verification status (ACC-7)."""

    account_id: str
    status: str
    method: str
    evidence_ref: str | None = None


@dataclass(frozen=True)
class CloseAccount:
    """Close the account on the member's request (ACC-9)."""

    account_id: str
    session_id: str


@dataclass(frozen=True)
class ReportMisuse:
    """The member says the account was misused (ACC-11)."""

    account_id: str
    note: str | None = None
