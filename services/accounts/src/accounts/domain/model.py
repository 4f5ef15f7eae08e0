"""The Account aggregate: decides on every change and records it as an event."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from accounts.domain import commands
from accounts.domain.age import check_age
from accounts.domain.errors import AccountNotActive, InvalidChange, TermsVersionMismatch
from accounts.domain.sessions import Session, SessionPolicy
from contracts.accounts import (
    RECTIFIABLE_FIELDS,
    AccountClosed,
    AccountDetailsChanged,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    DeviceRegistered,
    DeviceRemoved,
    IdentityVerificationRecorded,
    MisuseReported,
    PasswordChanged,
    PostalAddress,
    SessionEnded,
    SessionEndReason,
    SessionStarted,
    SocialIdentityLinked,
    SocialIdentityUnlinked,
    StepUpCompleted,
)
from contracts.envelope import Event

OPTIONAL_FIELDS = frozenset({"phone", "address", "date_of_birth", "gender", "interests"})
"""Voluntary attributes: stored only when given, removable at any time (ACC-2)."""

SCOPE_IMPORTS = {"email": "email", "profile": "name"}
"""Which granted social-login scope allows importing which attribute (ACC-6)."""


@dataclass(frozen=True)
class Terms:
    """The Terms of Use in force."""

    version: str
    effective_from: date


@dataclass(frozen=True)
class Profile:
    """The member's own data; kept as one encrypted blob."""

    email: str
    name: str
    username: str
    phone: str | None = None
    address: dict[str, Any] | None = None
    date_of_birth: str | None = None
    gender: str | None = None
    interests: list[str] | None = None
    show_real_name: bool = False
    verification: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for storage and answers."""
        return asdict(self)


def check_sign_up(cmd: commands.SignUp, terms: Terms, today: date, min_age: int) -> None:
    """The cheap checks made before anything is hashed, stored or logged (ACC-1, ACC-3)."""
    check_age(cmd.date_of_birth, today, min_age)
    if cmd.accept_terms_version != terms.version:
        raise TermsVersionMismatch(f"the current Terms of Use are version {terms.version}")
    if cmd.kind not in ("member", "employer"):
        raise InvalidChange("kind must be member or employer")


@dataclass
class Account:
    """One member's or employer's account, stream ``account-<id>``."""

    account_id: str
    kind: str
    status: str
    profile: Profile
    password_hash: str
    terms_version: str
    pseudonym: str
    version: int = 0
    events: list[Event] = field(default_factory=list)

    @classmethod
    def register(
        cls, account_id: str, cmd: commands.SignUp, password_hash: str, terms: Terms,
        today: date, min_age: int, pseudonym: str,
    ) -> Account:
        """A new account; records ``AccountRegistered`` with only the attributes given."""
        check_sign_up(cmd, terms, today, min_age)
        address = _address(cmd.address) if cmd.address is not None else None
        profile = Profile(
            email=cmd.email.strip(), name=cmd.name, username=cmd.username, phone=cmd.phone,
            address=address, date_of_birth=cmd.date_of_birth, gender=cmd.gender,
            interests=list(cmd.interests) if cmd.interests else None,
        )
        account = cls(account_id, cmd.kind, "active", profile, password_hash, terms.version,
                      pseudonym)
        account.events.append(AccountRegistered(
            account_id=account_id, kind=cmd.kind,
            email=profile.email, name=profile.name, username=profile.username,
            phone=profile.phone,
            address=PostalAddress.model_validate(address) if address else None,
            date_of_birth=profile.date_of_birth, gender=profile.gender,
            interests=profile.interests, password_hash=password_hash,
            terms_version=terms.version, pseudonym=pseudonym,
        ))
        return account

    @property
    def active(self) -> bool:
        """Whether the account can be used."""
        return self.status == "active"

    @property
    def public_name(self) -> str:
        """The name shown with public activity: the username, or the pseudonym once closed."""
        return self.profile.username if self.active else self.pseudonym

    def require_active(self) -> None:
        """Raise unless the account is active."""
        if not self.active:
            raise AccountNotActive("the account is closed")

    def rectify(self, changes: dict[str, Any], today: date, min_age: int) -> set[str]:
        """Apply the member's corrections (ACC-8); returns the names of changed fields."""
        self.require_active()
        unknown = set(changes) - set(RECTIFIABLE_FIELDS)
        if unknown:
            raise InvalidChange(f"cannot change: {', '.join(sorted(unknown))}")
        current = self.profile.as_dict()
        updates: dict[str, Any] = {}
        removed: list[str] = []
        for name, value in changes.items():
            if value is None:
                if name not in OPTIONAL_FIELDS:
                    raise InvalidChange(f"{name} is required and cannot be removed")
                if current[name] is not None:
                    removed.append(name)
                continue
            if name == "address":
                value = _address(value)
            if name == "date_of_birth":
                check_age(value, today, min_age)
            if current[name] != value:
                updates[name] = value
        if not updates and not removed:
            return set()
        new_values: dict[str, Any] = {**updates, **dict.fromkeys(removed)}
        self.profile = replace(self.profile, **new_values)
        event_fields = dict(updates)
        if "address" in event_fields:
            event_fields["address"] = PostalAddress.model_validate(event_fields["address"])
        self.events.append(AccountDetailsChanged(
            account_id=self.account_id, removed=sorted(removed), **event_fields,
        ))
        return set(updates) | set(removed)

    def change_password(self, password_hash: str) -> None:
        """Record a new password hash."""
        self.require_active()
        self.password_hash = password_hash
        self.events.append(PasswordChanged(account_id=self.account_id,
                                           password_hash=password_hash))

    def start_session(
        self, session_id: str, remember_me: bool, now: datetime, policy: SessionPolicy
    ) -> Session:
        """Open a session: long when ``remember_me``, else short (ACC-4)."""
        self.require_active()
        session = Session(session_id, self.account_id, remember_me,
                          policy.expires_at(now, remember_me))
        self.events.append(SessionStarted(
            session_id=session_id, account_id=self.account_id, remember_me=remember_me,
            expires_at=session.expires_at,
        ))
        return session

    def step_up(self, session: Session, now: datetime, policy: SessionPolicy) -> Session:
        """Open the step-up window of ``session`` after a correct password."""
        self.require_active()
        opened = session.stepped_up_at(now, policy)
        assert opened.step_up_until is not None
        self.events.append(StepUpCompleted(
            session_id=session.session_id, account_id=self.account_id,
            until=opened.step_up_until,
        ))
        return opened

    def end_sessions(self, sessions: list[Session], reason: SessionEndReason) -> list[str]:
        """Revoke each session still open; returns their ids."""
        ended = [s.session_id for s in sessions if not s.revoked]
        self.events.extend(
            SessionEnded(session_id=sid, account_id=self.account_id, reason=reason)
            for sid in ended
        )
        return ended

    def register_device(self, registration_id: str, cmd: commands.RegisterDevice) -> None:
        """Record a device registration for push notifications (ACC-5)."""
        self.require_active()
        if cmd.device_type not in ("ios", "android", "web"):
            raise InvalidChange("device_type must be ios, android or web")
        self.events.append(DeviceRegistered(
            account_id=self.account_id, registration_id=registration_id,
            device_id=cmd.device_id, device_type=cmd.device_type, push_token=cmd.push_token,
        ))

    def remove_device(self, registration_id: str) -> None:
        """Record that a device registration was deleted."""
        self.events.append(DeviceRemoved(account_id=self.account_id,
                                         registration_id=registration_id))

    def link_social_identity(
        self, link_id: str, cmd: commands.LinkSocialIdentity
    ) -> dict[str, str]:
        """Link an external identity, importing only what the granted scopes cover (ACC-6)."""
        self.require_active()
        scopes = sorted(set(cmd.granted_scopes))
        imported = {
            attr: cmd.profile[attr]
            for scope, attr in SCOPE_IMPORTS.items()
            if scope in scopes and cmd.profile.get(attr)
        }
        self.events.append(SocialIdentityLinked(
            account_id=self.account_id, link_id=link_id, provider=cmd.provider,
            provider_subject=cmd.provider_subject, granted_scopes=scopes,
            imported_email=imported.get("email"), imported_name=imported.get("name"),
        ))
        return imported

    def unlink_social_identity(self, link_id: str) -> None:
        """Record that a social identity link was removed."""
        self.events.append(SocialIdentityUnlinked(account_id=self.account_id, link_id=link_id))

    def record_verification(self, cmd: commands.RecordIdentityVerification,
                            at: datetime) -> None:
        """Set the identity-verification status with a minimal evidence reference (ACC-7)."""
        if cmd.status not in ("pending", "verified", "rejected"):
            raise InvalidChange("status must be pending, verified or rejected")
        self.profile = replace(self.profile, verification={
            "status": cmd.status, "method": cmd.method, "evidence_ref": cmd.evidence_ref,
            "updated_at": at.isoformat(),
        })
        self.events.append(IdentityVerificationRecorded(
            account_id=self.account_id, status=cmd.status,
            method=cmd.method, evidence_ref=cmd.evidence_ref,
        ))

    def close(self, sessions: list[Session]) -> None:
        """Close the account: every session ends, public content shows the pseudonym (ACC-9)."""
        self.require_active()
        self.end_sessions(sessions, "closure")
        self.status = "closed"
        self.events.append(AccountClosed(account_id=self.account_id, pseudonym=self.pseudonym))

    def lock(self, request_id: str, sessions: list[Session]) -> bool:
        """An erasure was requested: every session ends, no log-in, nothing of the member
        shown, until the erasure runs or is cancelled (PRV-5, grace window).

        Returns:
            Whether anything changed (an account not active stays as it is).
        """
        if not self.active:
            return False
        self.end_sessions(sessions, "erasure")
        self.status = "locked"
        self.events.append(AccountLocked(account_id=self.account_id, request_id=request_id))
        return True

    def unlock(self, request_id: str) -> bool:
        """The erasure that locked the account was cancelled: active again."""
        if self.status != "locked":
            return False
        self.status = "active"
        self.events.append(AccountUnlocked(account_id=self.account_id, request_id=request_id))
        return True

    def report_misuse(self, report_id: str, sessions: list[Session], note: str | None) -> int:
        """Revoke every session and record the security event (ACC-11)."""
        ended = self.end_sessions(sessions, "misuse_reported")
        self.events.append(MisuseReported(
            account_id=self.account_id, report_id=report_id, sessions_revoked=len(ended),
            note=note or None,
        ))
        return len(ended)


def _address(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidChange("address must be an object")
    try:
        return PostalAddress.model_validate(value).model_dump()
    except ValueError:
        raise InvalidChange("address needs street, postcode and city") from None
