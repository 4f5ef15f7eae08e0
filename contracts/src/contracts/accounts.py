"""Events of the accounts service (ACC-*), published on ``accounts.events.v1``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Event
from contracts.personal import CREDENTIAL, DataCategory, Erased, Personal

_DEMOGRAPHICS = Personal(DataCategory.DEMOGRAPHICS, expiring=True)
"""Optional demographics are sealed under the member's monthly key of the category: they
end in every store when the register's period after their last use is over (RET-2)."""

AccountKind = Literal["member", "employer"]


class PostalAddress(BaseModel):
    """A postal address (contact data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    street: str = Field(description="Street and house number.")
    postcode: str = Field(description="Postal code.")
    city: str = Field(description="City.")
    country: str | None = Field(None, description="ISO 3166-1 alpha-2 country code.")


class _AccountsEvent(Event):
    producer: ClassVar[str] = "accounts"


class AccountRegistered(_AccountsEvent):
    """A member or employer signed up and accepted the Terms of Use (ACC-1)."""

    event_type: ClassVar[str] = "accounts.AccountRegistered"

    account_id: str = Field(description="The new account; also its data-subject id.")
    kind: AccountKind = Field(description="Member or employer.")
    email: Annotated[str, Personal(DataCategory.CONTACT)] = Field(description="E-mail address.")
    name: Annotated[str, Personal(DataCategory.IDENTITY)] = Field(description="Full name.")
    username: Annotated[str, Personal(DataCategory.IDENTITY)] = Field(
        description="Public username (ACC-10)."
    )
    phone: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="Phone number, E.164."
    )
    address: Annotated[PostalAddress | Erased | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="Postal address."
    )
    date_of_birth: Annotated[str | None, _DEMOGRAPHICS] = Field(
        None, description="Date of birth, YYYY-MM-DD; optional (ACC-2)."
    )
    password_hash: Annotated[str, Personal(DataCategory.IDENTITY), CREDENTIAL] = Field(
        description="argon2id hash of the password."
    )
    terms_version: str = Field(description="Version of the Terms of Use accepted.")
    gender: Annotated[str | None, _DEMOGRAPHICS] = Field(
        None, description="Gender as the member describes it; optional (ACC-2)."
    )
    interests: Annotated[list[str] | Erased | None, _DEMOGRAPHICS] = Field(
        None, description="Interests; optional (ACC-2)."
    )
    pseudonym: str | None = Field(
        None, description="Keyed pseudonym shown instead of the username after closure (ACC-9)."
    )


SessionEndReason = Literal["logout", "misuse_reported", "closure", "erasure", "password_changed"]


class SessionStarted(_AccountsEvent):
    """A member logged in (ACC-4)."""

    event_type: ClassVar[str] = "accounts.SessionStarted"
    folds_into: ClassVar[tuple[str, str] | None] = ("sessions", "session_id")

    session_id: str = Field(description="The session.")
    account_id: str = Field(description="Whose session.")
    remember_me: bool = Field(description="Long ('stay logged in') or short session.")
    expires_at: datetime = Field(description="When the session ends by itself.")


class SessionEnded(_AccountsEvent):
    """A session was revoked before it expired (ACC-4, ACC-11)."""

    event_type: ClassVar[str] = "accounts.SessionEnded"
    folds_into: ClassVar[tuple[str, str] | None] = ("sessions", "session_id")
    ends_entity: ClassVar[bool] = True

    session_id: str = Field(description="The session.")
    account_id: str = Field(description="Whose session.")
    reason: SessionEndReason = Field(description="Why it ended.")


class StepUpCompleted(_AccountsEvent):
    """The member re-entered their password; sensitive changes are open until ``until``."""

    event_type: ClassVar[str] = "accounts.StepUpCompleted"
    folds_into: ClassVar[tuple[str, str] | None] = ("sessions", "session_id")

    session_id: str = Field(description="The session whose step-up window opened.")
    account_id: str = Field(description="Whose session.")
    until: datetime = Field(description="End of the step-up window.")


class AccountErased(_AccountsEvent):
    """The account's projections were deleted after its subject key was destroyed (PRV-5)."""

    event_type: ClassVar[str] = "accounts.AccountErased"

    account_id: str = Field(description="The erased account.")
    request_id: str | None = Field(
        None, description="The privacy request that ordered it, when the eraser knows it."
    )


RECTIFIABLE_FIELDS: tuple[str, ...] = (
    "email", "name", "username", "phone", "address", "date_of_birth", "gender", "interests",
    "show_real_name",
)
"""Fields a member may change through rectification (ACC-8)."""


class AccountDetailsChanged(_AccountsEvent):
    """The member corrected or removed some of their data (ACC-2, ACC-8, ACC-10).

    A personal field that is ``None`` did not change; fields named in ``removed`` were
    deleted.
    """

    event_type: ClassVar[str] = "accounts.AccountDetailsChanged"

    account_id: str = Field(description="Whose data changed.")
    email: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="New e-mail address."
    )
    name: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="New full name."
    )
    username: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="New public username."
    )
    phone: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="New phone number, E.164."
    )
    address: Annotated[PostalAddress | Erased | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="New postal address."
    )
    date_of_birth: Annotated[str | None, _DEMOGRAPHICS] = Field(
        None, description="New date of birth, YYYY-MM-DD."
    )
    gender: Annotated[str | None, _DEMOGRAPHICS] = Field(
        None, description="New gender."
    )
    interests: Annotated[list[str] | Erased | None, _DEMOGRAPHICS] = Field(
        None, description="New interests."
    )
    show_real_name: bool | None = Field(
        None, description="Whether the real name is shown beside public activity (ACC-10)."
    )
    removed: list[str] = Field(
        default_factory=list, description="Names of the optional fields the member removed."
    )


class PasswordChanged(_AccountsEvent):
    """The member set a new password (after step-up, ACC-4)."""

    event_type: ClassVar[str] = "accounts.PasswordChanged"

    account_id: str = Field(description="Whose password.")
    password_hash: Annotated[str, Personal(DataCategory.IDENTITY), CREDENTIAL] = Field(
        description="argon2id hash of the new password."
    )


DeviceType = Literal["ios", "android", "web"]


class DeviceRegistered(_AccountsEvent):
    """A device was registered for push notifications (ACC-5)."""

    event_type: ClassVar[str] = "accounts.DeviceRegistered"
    folds_into: ClassVar[tuple[str, str] | None] = ("devices", "registration_id")

    account_id: str = Field(description="Whose device.")
    registration_id: str = Field(description="The registration (the resource id).")
    device_id: Annotated[str, Personal(DataCategory.DEVICE, expiring=True)] = Field(
        description="The device's own identifier."
    )
    device_type: Annotated[str, Personal(DataCategory.DEVICE, expiring=True)] = Field(
        description="ios, android or web."
    )
    push_token: Annotated[str, Personal(DataCategory.DEVICE, expiring=True)] = Field(
        description="The push service's token for the device."
    )


class DeviceRemoved(_AccountsEvent):
    """A device registration was deleted (ACC-5)."""

    event_type: ClassVar[str] = "accounts.DeviceRemoved"
    folds_into: ClassVar[tuple[str, str] | None] = ("devices", "registration_id")
    ends_entity: ClassVar[bool] = True

    account_id: str = Field(description="Whose device.")
    registration_id: str = Field(description="The registration removed.")


class SocialIdentityLinked(_AccountsEvent):
    """An external social identity was linked; only granted scopes were imported (ACC-6)."""

    event_type: ClassVar[str] = "accounts.SocialIdentityLinked"
    folds_into: ClassVar[tuple[str, str] | None] = ("social_identities", "link_id")

    account_id: str = Field(description="Whose account.")
    link_id: str = Field(description="The link (the resource id).")
    provider: str = Field(description="The identity provider, e.g. google.")
    provider_subject: Annotated[str, Personal(DataCategory.IDENTITY)] = Field(
        description="The member's id at the provider."
    )
    granted_scopes: list[str] = Field(description="Scopes the member granted: the grant record.")
    imported_email: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="E-mail imported (only with the email scope)."
    )
    imported_name: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="Name imported (only with the profile scope)."
    )


class SocialIdentityUnlinked(_AccountsEvent):
    """A social identity link was removed (ACC-6)."""

    event_type: ClassVar[str] = "accounts.SocialIdentityUnlinked"
    folds_into: ClassVar[tuple[str, str] | None] = ("social_identities", "link_id")
    ends_entity: ClassVar[bool] = True

    account_id: str = Field(description="Whose account.")
    link_id: str = Field(description="The link removed.")


VerificationStatus = Literal["pending", "verified", "rejected"]


class IdentityVerificationRecorded(_AccountsEvent):
    """Identity verification status changed, with a minimal evidence reference (ACC-7)."""

    event_type: ClassVar[str] = "accounts.IdentityVerificationRecorded"

    account_id: str = Field(description="Whose identity.")
    status: VerificationStatus = Field(description="pending, verified or rejected.")
    method: str = Field(description="How it was verified, e.g. id_document or idin.")
    evidence_ref: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="Reference to the evidence kept by the verifier (never the document)."
    )


class AccountClosed(_AccountsEvent):
    """The member closed the account; public content now shows ``pseudonym`` (ACC-9)."""

    event_type: ClassVar[str] = "accounts.AccountClosed"

    account_id: str = Field(description="The closed account.")
    pseudonym: str = Field(description="Keyed pseudonym replacing the public username.")


class AccountLocked(_AccountsEvent):
    """An erasure of the account was requested: no log-in, every session ended, nothing of
    the member shown, until the erasure runs or is cancelled (PRV-5, grace window)."""

    event_type: ClassVar[str] = "accounts.AccountLocked"

    account_id: str = Field(description="The locked account.")
    request_id: str = Field(description="The erasure request that locked it.")


class AccountUnlocked(_AccountsEvent):
    """The erasure that locked the account was cancelled: the account is active again."""

    event_type: ClassVar[str] = "accounts.AccountUnlocked"

    account_id: str = Field(description="The unlocked account.")
    request_id: str = Field(description="The cancelled erasure request.")


class IdleAccountWarned(_AccountsEvent):
    """No log-in for the idle period: the member was told, through the transactional path,
    that the account is erased on ``erase_after`` unless they log in (PRV-5, RET-2)."""

    event_type: ClassVar[str] = "accounts.IdleAccountWarned"

    account_id: str = Field(description="The idle account.")
    last_login_at: datetime | None = Field(description="The last log-in (none: never).")
    erase_after: datetime = Field(description="Erased after this instant without a log-in.")


class IdleAccountErasureDue(_AccountsEvent):
    """The warning went unanswered: retention erases the account as if the member had asked
    (an erasure request of channel ``system``)."""

    event_type: ClassVar[str] = "accounts.IdleAccountErasureDue"

    account_id: str = Field(description="The idle account to erase.")
    warned_at: datetime = Field(description="When the member was warned.")


class MisuseReported(_AccountsEvent):
    """The member reported misuse of the account; every session was revoked (ACC-11)."""

    event_type: ClassVar[str] = "accounts.MisuseReported"
    folds_into: ClassVar[tuple[str, str] | None] = ("misuse_reports", "report_id")

    account_id: str = Field(description="Whose account.")
    report_id: str = Field(description="The report.")
    sessions_revoked: int = Field(ge=0, description="How many sessions were ended.")
    note: Annotated[str | None, Personal(DataCategory.SECURITY, expiring=True)] = Field(
        None, description="What the member wrote, if anything."
    )


PUBLIC_PROFILES_TOPIC = "accounts.public-profiles.v1"
"""Compacted: the latest public profile per account, tombstoned (null value) on erasure."""


class PublicProfile(BaseModel):
    """The value of ``accounts.public-profiles.v1``, keyed by account id (ACC-10).

    Other services show public activity under this name. The username is personal data:
    it travels as the ciphertext token of the event that set it, readable with the
    member's key (AAD ``"<username_event_id>:username"``) and unreadable once erased.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(description="The account (the record's key too).")
    status: Literal["active", "closed", "locked"] = Field(
        description="Closed accounts show the pseudonym; a locked one (its erasure pending) "
                    "shows nothing, and its username is withheld until it unlocks.")
    pseudonym: str = Field(description="Keyed pseudonym shown instead of the username.")
    username: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="Encrypted public username; null once the account is closed."
    )
    username_event_id: str | None = Field(
        None, description="The event whose encrypted username this is (its decryption context)."
    )
