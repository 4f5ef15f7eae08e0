"""Events of data-subject requests (PRV-*): retention orchestrates, every service answers."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Event

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
    channel: Literal["app", "form", "email", "post"] = Field(description="How it arrived.")
    identity_verified: bool = Field(description="Verified on receipt (step-up session).")
    due_at: datetime = Field(description="One-month deadline.")


class SubjectKeyShredded(_RetentionEvent):
    """The subject's data key was destroyed; every service now erases its copies (RET-5)."""

    event_type: ClassVar[str] = "retention.SubjectKeyShredded"

    request_id: str = Field(description="The erasure request.")
    subject_id: str = Field(description="The erased subject.")
    services: list[str] = Field(description="Services whose receipts are awaited.")


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
