"""Events of the accounts service (ACC-*), published on ``accounts.events.v1``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Event
from contracts.personal import DataCategory, Erased, Personal

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
    date_of_birth: Annotated[str | None, Personal(DataCategory.DEMOGRAPHICS)] = Field(
        None, description="Date of birth, YYYY-MM-DD; optional (ACC-2)."
    )
    password_hash: Annotated[str, Personal(DataCategory.IDENTITY)] = Field(
        description="argon2id hash of the password."
    )
    terms_version: str = Field(description="Version of the Terms of Use accepted.")


SessionEndReason = Literal["logout", "misuse_reported", "closure", "erasure", "password_changed"]


class SessionStarted(_AccountsEvent):
    """A member logged in (ACC-4)."""

    event_type: ClassVar[str] = "accounts.SessionStarted"

    session_id: str = Field(description="The session.")
    account_id: str = Field(description="Whose session.")
    remember_me: bool = Field(description="Long ('stay logged in') or short session.")
    expires_at: datetime = Field(description="When the session ends by itself.")


class SessionEnded(_AccountsEvent):
    """A session was revoked before it expired (ACC-4, ACC-11)."""

    event_type: ClassVar[str] = "accounts.SessionEnded"

    session_id: str = Field(description="The session.")
    account_id: str = Field(description="Whose session.")
    reason: SessionEndReason = Field(description="Why it ended.")


class StepUpCompleted(_AccountsEvent):
    """The member re-entered their password; sensitive changes are open until ``until``."""

    event_type: ClassVar[str] = "accounts.StepUpCompleted"

    session_id: str = Field(description="The session whose step-up window opened.")
    account_id: str = Field(description="Whose session.")
    until: datetime = Field(description="End of the step-up window.")


class AccountErased(_AccountsEvent):
    """The account's projections were deleted after its subject key was destroyed (PRV-5)."""

    event_type: ClassVar[str] = "accounts.AccountErased"

    account_id: str = Field(description="The erased account.")
    request_id: str = Field(description="The privacy request that ordered it.")
