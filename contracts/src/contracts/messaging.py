"""Events of the messaging service (MSG-1…4, SEC-3, SEC-5), on ``messaging.events.v1``.

A message body is personal data of its sender that expires (MSG-3): it is sealed under a
key of the sender, the ``messages`` category and the month it was posted, destroyed when
the category's retention period has run past that month. Verdicts, reviews, notices and
disputes carry ids, codes and counts, never the text they are about.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event
from contracts.personal import DataCategory, Erased, Personal
from contracts.staff import AccessPurpose, StaffRole

Outcome = Literal["delivered", "quarantined", "blocked"]
ReportKind = Literal["abuse", "vulnerability"]
Register = Literal["quarantine", "reports", "disputes", "notices"]
Signal = Literal["same_text_to_many", "many_new_conversations", "blocked_domain_repeated"]


class _MessagingEvent(Event):
    producer: ClassVar[str] = "messaging"


class ScanReason(BaseModel):
    """Why a detector objected: a rule code, a score, non-personal indicators."""

    detector: Literal["malware", "phishing", "scam", "spam", "prohibited"] = Field(
        description="The detector that objected.")
    code: str = Field(description="Stable rule name, e.g. eicar, lookalike_domain.")
    score: float | None = Field(None, description="The rule's score, where it has one.")
    indicators: list[str] = Field(
        default_factory=list, description="Non-personal indicators, e.g. a registrable domain.")


class ConversationStarted(_MessagingEvent):
    """Two accounts may now message each other about a listing (MSG-1)."""

    event_type: ClassVar[str] = "messaging.ConversationStarted"

    conversation_id: str = Field(description="The conversation.")
    listing_id: str = Field(description="The listing it is about.")
    started_by: str = Field(description="The account that started it; the event's subject.")
    recipient_id: str = Field(description="The other participant.")


class MessagePosted(_MessagingEvent):
    """A scanned message was stored (MSG-1, MSG-2); its body expires (MSG-3).

    A blocked message keeps no body at all.
    """

    event_type: ClassVar[str] = "messaging.MessagePosted"

    message_id: str = Field(description="The message.")
    conversation_id: str = Field(description="Its conversation.")
    sender_id: str = Field(description="The sender; the event's data subject.")
    recipient_id: str = Field(description="The other participant.")
    body: Annotated[str | Erased | None, Personal(DataCategory.MESSAGES, expiring=True)] = Field(
        None, description="The text; null when blocked; sealed under a monthly key.")
    attachments: int = Field(0, description="How many files were attached (never kept).")
    outcome: Outcome = Field(description="The scanner's verdict.")


class MessageScanned(_MessagingEvent):
    """The scanner's verdict on a message, with its reasons (MSG-2)."""

    event_type: ClassVar[str] = "messaging.MessageScanned"

    message_id: str = Field(description="The message.")
    conversation_id: str = Field(description="Its conversation.")
    sender_id: str = Field(description="The sender.")
    outcome: Outcome = Field(description="delivered, quarantined or blocked.")
    reasons: list[ScanReason] = Field(default_factory=list, description="The detectors' reasons.")


class MessageReviewed(_MessagingEvent):
    """Trust and safety released or blocked a quarantined message (MSG-2)."""

    event_type: ClassVar[str] = "messaging.MessageReviewed"

    message_id: str = Field(description="The message.")
    reviewer_id: str = Field(description="The staff member (trust_and_safety).")
    decision: Literal["deliver", "block"] = Field(description="What the reviewer decided.")


class StaffAccessRecorded(_MessagingEvent):
    """A staff member was shown a member's messages, reports or disputes (SEC-2).

    One per member shown, in the same transaction as the read: ids, never values.
    """

    event_type: ClassVar[str] = "messaging.StaffAccessRecorded"

    access_id: str = Field(description="The access (one per read).")
    staff_account_id: str = Field(description="Who looked.")
    role: StaffRole = Field(description="The role the read was made under.")
    subject_id: str = Field(description="Whose data was shown.")
    purpose: AccessPurpose = Field(description="Why the staff member looked.")
    kind: Register = Field(description="What was read: quarantine, reports, disputes, notices.")
    item_ids: list[str] = Field(description="The messages, reports or disputes shown.")


class ConversationReported(_MessagingEvent):
    """A participant reported a conversation for abuse (MSG-4)."""

    event_type: ClassVar[str] = "messaging.ConversationReported"

    report_id: str = Field(description="The report.")
    conversation_id: str = Field(description="The conversation.")
    reporter_id: str = Field(description="The reporting participant; the event's subject.")
    reported_id: str = Field(description="The other participant.")
    reason: Literal["spam", "scam", "harassment", "prohibited", "other"] = Field(
        description="A reason code.")
    note: Annotated[str | None, Personal(DataCategory.MESSAGES, expiring=True)] = Field(
        None, description="The reporter's note.")


class SuspiciousActivityNoticed(_MessagingEvent):
    """A suspicious-activity signal (SEC-3); names the public username, never the real name."""

    event_type: ClassVar[str] = "messaging.SuspiciousActivityNoticed"

    notice_id: str = Field(description="The notice.")
    account_id: str = Field(description="The account; the event's data subject.")
    username: Annotated[str | None, Personal(DataCategory.IDENTITY)] = Field(
        None, description="Its public username at the time (null if unknown).")
    signal: Signal = Field(description="Which signal fired.")
    count: int = Field(description="How many occurrences within the window.")
    window_seconds: int = Field(description="The window the count is over.")
    indicator: str | None = Field(None, description="A non-personal indicator (a domain).")


class DisputeOpened(_MessagingEvent):
    """A dispute about an account was registered (SEC-3); holds the subject from erasure."""

    event_type: ClassVar[str] = "messaging.DisputeOpened"

    dispute_id: str = Field(description="The dispute.")
    account_id: str = Field(description="The account it concerns; the event's subject.")
    source: Literal["police", "member", "bank", "internal", "other"] = Field(
        description="Who reported it.")
    reference: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._:#/-]{1,64}$", description="External case reference.")
    opened_by: str = Field(description="The trust-and-safety staff member.")
    summary: Annotated[str | None, Personal(DataCategory.DISPUTES, expiring=True)] = Field(
        None, description="What the dispute is about.")


class DisputeClosed(_MessagingEvent):
    """A dispute was closed (SEC-3); the hold it placed on erasure ends."""

    event_type: ClassVar[str] = "messaging.DisputeClosed"

    dispute_id: str = Field(description="The dispute.")
    account_id: str = Field(description="The account it concerned.")
    closed_by: str = Field(description="The trust-and-safety staff member.")
    resolution: Literal["upheld", "rejected", "withdrawn"] = Field(description="How it ended.")


class ReportReceived(_MessagingEvent):
    """An abuse or vulnerability report came in (SEC-5); signed in or not."""

    event_type: ClassVar[str] = "messaging.ReportReceived"

    report_id: str = Field(description="The report.")
    kind: ReportKind = Field(description="abuse or vulnerability.")
    reporter_id: str | None = Field(None, description="The reporting account, if signed in.")
    text: Annotated[str, Personal(DataCategory.SECURITY, expiring=True)] = Field(
        description="What was reported, sealed under the reporter's (or the report's) key.")
    contact: Annotated[str | None, Personal(DataCategory.CONTACT)] = Field(
        None, description="How to reach an anonymous reporter, if given.")


class ReportReviewed(_MessagingEvent):
    """Staff reviewed an abuse or vulnerability report (SEC-5)."""

    event_type: ClassVar[str] = "messaging.ReportReviewed"

    report_id: str = Field(description="The report.")
    reviewer_id: str = Field(description="The staff member.")
    status: Literal["triaged", "resolved", "rejected"] = Field(description="The new status.")
