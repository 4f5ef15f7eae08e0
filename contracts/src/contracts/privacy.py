"""Events of data-subject requests (PRV-*): retention orchestrates, every service answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Event
from contracts.personal import DataCategory, Erased, Personal

RequestType = Literal[
    "access", "portability", "rectification", "erasure", "restriction", "objection"
]
RequestStatus = Literal["received", "verified", "in_progress", "completed", "refused"]
ReceiptStatus = Literal["pending", "completed", "failed"]

ERASURE_SERVICES: tuple[str, ...] = ("accounts", "consent", "listings", "messaging", "retention")
"""Every service that may hold personal data; each gives a receipt for every erasure."""


class _RetentionEvent(Event):
    producer: ClassVar[str] = "retention"


class PrivacyRequestReceived(_RetentionEvent):
    """A data subject asked to exercise a right (PRV-7)."""

    event_type: ClassVar[str] = "retention.PrivacyRequestReceived"

    request_id: str = Field(description="The request.")
    subject_id: str = Field(description="Whose data the request is about.")
    type: RequestType = Field(description="Which right.")
    channel: Literal["app", "form", "email", "post", "system"] = Field(
        description="How it arrived (system: the platform's own, an idle account's erasure).")
    identity_verified: bool = Field(description="Verified on receipt (step-up session).")
    due_at: datetime = Field(description="One-month deadline.")


class SubjectKeyShredded(_RetentionEvent):
    """The subject's data key was destroyed; every service now erases its copies (RET-5)."""

    event_type: ClassVar[str] = "retention.SubjectKeyShredded"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The erased subject.")
    services: list[str] = Field(description="Services whose receipts are awaited.")


class ErasureScheduled(_RetentionEvent):
    """A verified erasure waits out its grace window before the key is shredded (PRV-5).

    The account is locked at once (accounts: no log-in, sessions ended, nothing shown);
    until ``shred_at`` the member, with the request's status token, or support staff may
    cancel it, and the member is whole again.
    """

    event_type: ClassVar[str] = "retention.ErasureScheduled"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The subject to be erased.")
    shred_at: datetime = Field(description="When the key is shredded unless cancelled.")


class ErasureCancelled(_RetentionEvent):
    """A scheduled erasure was cancelled within its grace window; the account unlocks."""

    event_type: ClassVar[str] = "retention.ErasureCancelled"

    request_id: str = Field(description="The cancelled erasure request.")
    subject_id: str = Field(description="The subject who stays.")
    by: Literal["subject", "staff"] = Field(description="Who cancelled it.")


class DisclosureRecorded(_RetentionEvent):
    """Personal data of a subject was disclosed to a recipient of the register (SHR-1).

    Names the recipient, purpose, categories and legal basis, and for law enforcement the
    authority and case reference (SHR-3); never the values disclosed.
    """

    event_type: ClassVar[str] = "retention.DisclosureRecorded"

    disclosure_id: str = Field(description="The disclosure.")
    subject_id: str = Field(description="Whose data was disclosed.")
    recipient: str = Field(description="The recipient's code in the recipients register.")
    recipient_kind: str = Field(description="group_company, employer, law_enforcement or "
                                            "processor.")
    purpose: str = Field(description="Why it was disclosed.")
    categories: list[str] = Field(description="The data categories disclosed (SHR-2).")
    legal_basis: str = Field(description="The legal basis of the disclosure.")
    countries: list[str] = Field(description="Where the recipient receives it (SHR-4).")
    transfer_basis: str = Field(description="eea, adequacy or scc.")
    authority: str | None = Field(None, description="Requesting authority (SHR-3).")
    case_reference: str | None = Field(None, description="The authority's case reference.")


class ErasureReceiptIssued(Event):
    """A service confirms it erased a subject's data, caches and projections (PRV-5).

    Published by each service on its own topic; the envelope's ``producer`` names it.
    """

    event_type: ClassVar[str] = "privacy.ErasureReceiptIssued"
    producer: ClassVar[str] = "any"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The erased subject.")
    service: str = Field(description="The service giving the receipt.")
    status: Literal["completed", "failed"] = Field(description="Outcome.")
    held_data: bool = Field(description="Whether the service held any data of the subject.")
    detail: str = Field("", description="What was erased or why it failed; no personal data.")


class CategoryRetentionEnded(_RetentionEvent):
    """One category of one subject reached the end of its retention period (RET-2, RET-7).

    Every service removes the category's values recorded before ``recorded_before`` from
    its projections (``erase``) or replaces them by keyed-HMAC pseudonyms
    (``pseudonymise``, RET-6), and answers with a :class:`CategoryRetentionReceipt`. The
    category's own keys are destroyed by retention where the period is shared by every
    member (counted from collection); this order reaches the plaintext projections.
    """

    event_type: ClassVar[str] = "retention.CategoryRetentionEnded"

    order_id: str = Field(description="The order (one per subject, category and period).")
    subject_id: str = Field(description="Whose data.")
    category: str = Field(description="The data category, as the data register names it.")
    action: Literal["erase", "pseudonymise"] = Field(description="The register's end of life.")
    recorded_before: datetime = Field(
        description="Values recorded before this instant are past their period.")
    services: list[str] = Field(description="Services whose receipts are awaited.")


class CategoryRetentionReceipt(Event):
    """A service confirms it carried out a :class:`CategoryRetentionEnded` order (RET-2).

    Published by each service on its own topic; holds no personal data.
    """

    event_type: ClassVar[str] = "privacy.CategoryRetentionReceipt"
    producer: ClassVar[str] = "any"

    order_id: str = Field(description="The order answered.")
    subject_id: str = Field(description="Whose data.")
    category: str = Field(description="The data category.")
    service: str = Field(description="The service giving the receipt.")
    action: Literal["erase", "pseudonymise"] = Field(description="What was done.")
    held_data: bool = Field(description="Whether the service held values of the category.")
    detail: str = Field("", description="What was removed or replaced; no personal data.")


class PrivacyRequestStatusChanged(_RetentionEvent):
    """A request moved through its lifecycle (PRV-7)."""

    event_type: ClassVar[str] = "retention.PrivacyRequestStatusChanged"

    request_id: str = Field(description="The request.")
    subject_id: str = Field(description="Whose request.")
    status: RequestStatus = Field(description="The new status.")
    reason: str = Field("", description="Why (for refusals and exceptions).")


class ErasureReceiptRecorded(_RetentionEvent):
    """Retention recorded one service's receipt for an erasure."""

    event_type: ClassVar[str] = "retention.ErasureReceiptRecorded"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The erased subject.")
    service: str = Field(description="Which service's receipt.")
    status: ReceiptStatus = Field(description="Its outcome.")
    at: datetime = Field(description="When the receipt was issued.")


EXPORT_TYPES: tuple[str, ...] = ("access", "portability")
"""Request types answered by an export assembled from every service (PRV-1, PRV-2)."""


class SubjectExportOrdered(_RetentionEvent):
    """Every service is asked for the subject's data it holds, per category (PRV-1, PRV-2)."""

    event_type: ClassVar[str] = "retention.SubjectExportOrdered"

    request_id: str = Field(description="The access or portability request.")
    subject_id: str = Field(description="Whose data.")
    services: list[str] = Field(description="Services whose parts are awaited.")


class SubjectDataExported(Event):
    """One service's part of an export: the subject's data it holds, per category.

    Published by each service on its own topic (the envelope's ``producer`` names it).
    ``content`` holds values of every category; it is sealed whole under the subject's own
    key (marked ``identity``, a category without expiring keys), so an erasure makes every
    copy of it unreadable, in stores and Kafka alike.
    """

    event_type: ClassVar[str] = "privacy.SubjectDataExported"
    producer: ClassVar[str] = "any"

    request_id: str = Field(description="The access or portability request.")
    subject_id: str = Field(description="Whose data.")
    service: str = Field(description="The service giving its part.")
    categories: list[str] = Field(description="Categories this chunk holds (names only).")
    content: Annotated[dict[str, Any] | Erased, Personal(DataCategory.IDENTITY)] = Field(
        description="Per category, the values held: a list of ExportedValue objects."
    )
    chunk: int = Field(0, ge=0, description="Which chunk of the service's part this is.")
    chunks: int = Field(1, ge=1, description=(
        "How many chunks the part has: a large part is split so that no record passes the "
        "broker's message size; the part is whole when every chunk has arrived."))


class ExportPartRecorded(_RetentionEvent):
    """Retention received one service's part of an export (PRV-1, PRV-2)."""

    event_type: ClassVar[str] = "retention.ExportPartRecorded"

    request_id: str = Field(description="The access or portability request.")
    subject_id: str = Field(description="Whose data.")
    service: str = Field(description="Which service's part.")
    at: datetime = Field(description="When the part was given.")


# -- the export document (PRV-1 access, PRV-2 portability): a versioned JSON schema ------------

EXPORT_FORMAT = "marketplace.subject-export"
EXPORT_FORMAT_VERSION = 1


class ExportedValue(BaseModel):
    """One value a service holds of the subject, as it recorded it."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="The field's name in the event that recorded it.")
    event_type: str = Field(description="The event that recorded it (its stable name).")
    value: Any = Field(description="The value (text, number, object or list).")
    first_recorded: datetime = Field(description="When this value was first recorded.")
    last_recorded: datetime = Field(description="When this value was last recorded.")
    times_recorded: int = Field(ge=1, description="How many events recorded this value.")


class ExportedSource(BaseModel):
    """What one service holds of a category."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="The service holding the data (its source of record).")
    values: list[ExportedValue] = Field(description="The values it holds.")


class ExportedCategory(BaseModel):
    """One data category of the subject, with what the data register says about it."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="The category's code (data register, RET-1).")
    name: str = Field(description="Its name.")
    source: str = Field(description="Where data of this category comes from.")
    purposes: list[str] = Field(description="What it is processed for.")
    legal_basis: Literal["consent", "contract", "legitimate_interest", "legal_obligation"]
    retention_days: int = Field(description="How long it is kept, in days.")
    retention_from: str = Field(description="What the period counts from.")
    end_of_life: Literal["erase", "pseudonymise"] = Field(description="What happens then.")
    recipients: list[str] = Field(
        description="Recipients it was disclosed to (SHR-1); empty when none."
    )
    held_by: list[ExportedSource] = Field(description="Each service holding it, and the values.")


class SubjectExport(BaseModel):
    """The answer to an access or portability request: every service's data of the subject.

    Versioned by ``format`` and ``format_version``; its JSON Schema is this model's.
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["marketplace.subject-export"] = Field(description="The document format.")
    format_version: Literal[1] = Field(description="The format's version.")
    request_id: str = Field(description="The request answered.")
    subject_id: str = Field(description="Whose data (the account id).")
    type: Literal["access", "portability"] = Field(description="Which right.")
    generated_at: datetime = Field(description="When the last service's part arrived.")
    expires_at: datetime = Field(description="After this, the export is deleted (410).")
    register_version: str = Field(description="The data register version applied.")
    services: list[str] = Field(description="Every service that gave its part.")
    categories: list[ExportedCategory] = Field(description="Per category, what is held.")


# -- legal hold (RET-4) ------------------------------------------------------------------------

HOLD_REFERENCE_PATTERN = r"^[A-Za-z0-9._:#/-]{1,64}$"
"""A case reference: no spaces and no ``@``, so no names or e-mail addresses."""


class LegalHoldPlaced(_RetentionEvent):
    """A subject's data (or one category of it) is frozen from deletion (RET-4).

    Placed by staff, or by an open dispute (SEC-3). Holds no personal data: the reason and
    authority are codes or short descriptions of the case, never of the person.
    """

    event_type: ClassVar[str] = "retention.LegalHoldPlaced"

    hold_id: str = Field(description="The hold.")
    subject_id: str = Field(description="Whose data is held.")
    category: str | None = Field(None, description="Only this data category; null: all.")
    reason: str = Field(description="Why (investigation, dispute, court case); no personal data.")
    authority: str = Field(description="Who requires it (a court, the police, the DPO, ...).")
    case_reference: str = Field(pattern=HOLD_REFERENCE_PATTERN, description="The case.")
    placed_by: str = Field(description="The staff account, or `dispute` for an open dispute.")


class LegalHoldReleased(_RetentionEvent):
    """A legal hold ended; what it held may be erased again (RET-4)."""

    event_type: ClassVar[str] = "retention.LegalHoldReleased"

    hold_id: str = Field(description="The hold.")
    subject_id: str = Field(description="Whose data was held.")
    released_by: str = Field(description="The staff account, or `dispute` when it closed.")


class ErasureEscalated(_RetentionEvent):
    """Services kept failing to confirm an erasure; the DPO is to act (PRV-5).

    Retention keeps asking them meanwhile; the request completes when they confirm.
    """

    event_type: ClassVar[str] = "retention.ErasureEscalated"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The erased subject.")
    services: list[str] = Field(description="Services whose receipt is still missing.")
    attempts: int = Field(ge=1, description="How many times they were asked.")
