"""Events of the consent service (CNS-*, PRV-4, PRV-6), published on ``consent.events.v1``.

The ledger of a data subject (a member, or an anonymous visitor for cookies) is the
stream ``consent-<subject_id>`` of these events: append-only and hash-chained (CNS-5).
Every service's contact guard keeps its own projection of them (CNS-7).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Event
from contracts.personal import DataCategory, Erased, Personal

LegalBasis = Literal["consent", "contract", "legitimate_interest", "legal_obligation"]
Channel = Literal["email", "phone", "sms", "post", "push"]
Kind = Literal["service_messages", "newsletters", "special_offers"]
Action = Literal["granted", "withdrawn", "objected", "objection_lifted"]
Source = Literal["web", "unsubscribe_link", "support_staff", "privacy_request", "cookie_banner"]

CHANNELS: tuple[str, ...] = ("email", "phone", "sms", "post", "push")
KINDS: tuple[str, ...] = ("service_messages", "newsletters", "special_offers")


class PurposeTerms(BaseModel):
    """One purpose of the catalogue as the guards need it (no texts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: str = Field(description="URL-safe slug.")
    legal_basis: LegalBasis = Field(description="Why the processing is lawful.")
    channels: list[Channel] = Field(description="Channels it may use; empty: no contact.")
    kind: Kind | None = Field(description="Kind of communication, for preferences (CNS-1).")
    marketing: bool = Field(description="Marketing or personalisation (refused on PRV-6).")


class StatementTerms(BaseModel):
    """A privacy-statement version: from when it applies and whose text it changed (CNS-6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="Statement version.")
    effective_from: str = Field(description="ISO-8601 instant it takes effect.")
    changed_purposes: list[str] = Field(description="Purposes whose text changed in it.")


class _ConsentEvent(Event):
    producer: ClassVar[str] = "consent"


class CatalogPublished(_ConsentEvent):
    """The purpose catalogue and statement versions now in force (CNS-2, CNS-3, CNS-6)."""

    event_type: ClassVar[str] = "consent.CatalogPublished"

    catalogue_version: int = Field(ge=1, description="Version of the catalogue file.")
    purposes: list[PurposeTerms] = Field(description="Every purpose.")
    statements: list[StatementTerms] = Field(description="Every statement version.")


class ConsentDecisionRecorded(_ConsentEvent):
    """A ledger entry: a grant, withdrawal, objection or lifted objection (CNS-5).

    The decision itself, its channel and source are the subject's consent records: they
    read ``"erased"`` once the subject is erased.
    """

    event_type: ClassVar[str] = "consent.ConsentDecisionRecorded"

    subject_id: str = Field(description="Member account or anonymous visitor id.")
    purpose: str = Field(description="Purpose slug.")
    legal_basis: LegalBasis = Field(description="Legal basis of the purpose.")
    statement_version: int = Field(ge=1, description="Statement version shown.")
    action: Annotated[Action | Erased, Personal(DataCategory.CONSENT)] = Field(
        description="granted, withdrawn, objected or objection_lifted."
    )
    channel: Annotated[str | None, Personal(DataCategory.CONSENT)] = Field(
        None, description="Channel the decision was made through or about (e-mail, web...)."
    )
    source: Annotated[str, Personal(DataCategory.CONSENT)] = Field(
        description="web, unsubscribe_link, support_staff, privacy_request or cookie_banner."
    )


class PreferencesChanged(_ConsentEvent):
    """The member's communication preferences per channel and kind (CNS-1)."""

    event_type: ClassVar[str] = "consent.PreferencesChanged"

    subject_id: str = Field(description="The member.")
    preferences: Annotated[
        dict[str, dict[str, bool]] | Erased, Personal(DataCategory.CONSENT)
    ] = Field(description="channel → kind → allowed, complete after the change.")
    source: str = Field("web", description="Where the change was made.")


class ProcessingRestricted(_ConsentEvent):
    """Processing of the member's data is restricted, or no longer (PRV-6)."""

    event_type: ClassVar[str] = "consent.ProcessingRestricted"

    subject_id: str = Field(description="The member.")
    restricted: bool = Field(description="True: kept but not used; false: lifted.")
    source: Literal["member", "dpo", "privacy_request"] = Field(description="Who decided.")
    request_id: str | None = Field(None, description="Privacy request carried out, if any.")


class ConsentLedgerRead(_ConsentEvent):
    """A DPO was shown a member's consent ledger (SEC-2, CNS-5); no values, only who and why."""

    event_type: ClassVar[str] = "consent.ConsentLedgerRead"

    access_id: str = Field(description="The access.")
    staff_account_id: str = Field(description="Who looked.")
    role: Literal["dpo"] = Field(description="The role the access was made under.")
    subject_id: str = Field(description="Whose ledger was shown.")
    purpose: str = Field(description="Access purpose code (contracts.staff.AccessPurpose).")
    as_of: str | None = Field(None, description="The instant asked about, if any.")


class PrivacyRequestCarriedOut(_ConsentEvent):
    """A verified restriction or objection request was carried out (PRV-4, PRV-6, PRV-7)."""

    event_type: ClassVar[str] = "consent.PrivacyRequestCarriedOut"

    request_id: str = Field(description="The privacy request.")
    subject_id: str = Field(description="Whose request.")
    type: Literal["restriction", "objection"] = Field(description="Which right.")
