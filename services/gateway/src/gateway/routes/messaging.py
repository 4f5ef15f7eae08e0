"""Conversation, report and trust-and-safety routes (MSG-1…4, SEC-3, SEC-5).

Bodies are validated here, at the edge; the messaging service decides everything else,
including who may read what and which staff role may work the desk. No route hands out
other members' contact data: participants appear by account id only (MSG-4).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.staff import REFERENCE_PATTERN, AccessPurpose
from gateway.client_address import client_address
from gateway.deps import (
    CurrentSession,
    OptionalSession,
    Ups,
    forward,
    internal_path,
    uuid_param,
)

router = APIRouter(tags=["messaging"])

ERR = {"description": "Error: `{error: {code, message}}`."}
LIMITED = {"description": "`rate_limited`, with `Retry-After` in seconds."}
FORBIDDEN = {"description": "`forbidden`: your staff roles do not allow it."}
ID = r"^[A-Za-z0-9-]{1,64}$"
ConversationId = Annotated[str, uuid_param("conversation_id", "conversation",
                                           "The conversation.")]
MessageId = Annotated[str, uuid_param("message_id", "message", "The message.")]
ReportId = Annotated[str, uuid_param("report_id", "report", "The report.")]
DisputeId = Annotated[str, uuid_param("dispute_id", "dispute", "The dispute.")]
Purpose = Annotated[AccessPurpose, Query(description="Why you look (recorded, SEC-2).")]


class ConversationRequest(BaseModel):
    """`POST /v1/conversations` (MSG-1)."""

    model_config = ConfigDict(extra="forbid")

    listing_id: str = Field(pattern=ID, description="The listing it is about.")
    recipient_account_id: str = Field(pattern=ID, description="Who you write to.")


class AttachmentIn(BaseModel):
    """One attached file, base64-encoded; scanned, never kept."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, description="File name.")
    content_base64: str = Field(max_length=700_000, description="The file, base64.")


class MessageRequest(BaseModel):
    """`POST /v1/conversations/{id}/messages` (MSG-1, MSG-2)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5_000, description="The text.")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=5,
                                            description="Files, scanned before delivery.")


class AbuseReportRequest(BaseModel):
    """`POST /v1/conversations/{id}/report` (MSG-4)."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["spam", "scam", "harassment", "prohibited", "other"] = Field(
        description="What is wrong.")
    note: str | None = Field(None, max_length=2_000, description="Anything to add.")


class ReportRequest(BaseModel):
    """`POST /v1/reports` (SEC-5): abuse or a security vulnerability, with or without a token."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["abuse", "vulnerability"] = Field(description="What you report.")
    text: str = Field(min_length=1, max_length=10_000, description="What happened.")
    contact: str | None = Field(None, max_length=320, description="How to reach you.")


class ReviewRequest(BaseModel):
    """A decision on a quarantined message."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["deliver", "block"] = Field(description="Release or block it.")


class ReportReviewRequest(BaseModel):
    """A report's new status."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["triaged", "resolved", "rejected"] = Field(description="New status.")


class DisputeRequest(BaseModel):
    """A dispute linked to an account (SEC-3), e.g. from the police fraud desk."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ID, description="The account it concerns.")
    source: Literal["police", "member", "bank", "internal", "other"] = Field(
        description="Who reported it.")
    reference: str | None = Field(None, pattern=REFERENCE_PATTERN,
                                  description="Their case reference.")
    summary: str | None = Field(None, max_length=5_000, description="What it is about.")


class DisputeClosing(BaseModel):
    """How a dispute ended."""

    model_config = ConfigDict(extra="forbid")

    resolution: Literal["upheld", "rejected", "withdrawn"] = Field(description="Outcome.")


class ConversationCreated(BaseModel):
    """The conversation (an existing one for the same pair and listing)."""

    conversation_id: str


class MessageSent(BaseModel):
    """The message and the scanner's verdict on it."""

    message_id: str
    verdict: Literal["delivered", "quarantined", "blocked"] = Field(
        description="delivered: the recipient reads it; quarantined: it waits for review; "
                    "blocked: it is never delivered and its body is not kept.")


class MessageItem(BaseModel):
    """One message; participants appear by account id only (MSG-4)."""

    message_id: str
    conversation_id: str
    sender_id: str
    verdict: Literal["delivered", "quarantined", "blocked"]
    body: str | None = Field(description='The text; `"erased"` once expired or its sender '
                                         "erased; null when blocked.")
    attachments: int = Field(description="How many files were attached (files are not kept).")
    posted_at: str
    seq: int


class MessagesPage(BaseModel):
    """A page of messages, oldest first: the recipient sees delivered ones only."""

    items: list[MessageItem]
    next_cursor: str | None = Field(description="`cursor` for the next page; null at the end.")


class ConversationItem(BaseModel):
    """One of the caller's conversations."""

    conversation_id: str
    listing_id: str
    with_account_id: str = Field(description="The other participant's account id.")
    started_at: str


class ConversationsPage(BaseModel):
    """The caller's conversations, newest first."""

    items: list[ConversationItem]
    next_cursor: str | None


class ReportCreated(BaseModel):
    """The report's id."""

    report_id: str


def _conv(conversation_id: str, suffix: str = "") -> str:
    return internal_path("/internal/conversations/{conversation_id}" + suffix,
                         conversation_id=conversation_id)


@router.post("/v1/conversations", status_code=201, response_model=ConversationCreated,
             responses={401: ERR, 404: ERR, 409: ERR, 422: ERR})
async def start_conversation(body: ConversationRequest, session: CurrentSession, ups: Ups
                             ) -> Response:
    """Start a conversation about a listing with its owner, or as owner (MSG-1)."""
    return forward(await ups.call("messaging", "POST", "/internal/conversations",
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/conversations", response_model=ConversationsPage, responses={401: ERR})
async def my_conversations(
    session: CurrentSession, ups: Ups,
    cursor: Annotated[str | None, Query(pattern=ID, description="next_cursor of a page.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """`{items: [{conversation_id, listing_id, with_account_id, started_at}], next_cursor}`."""
    return forward(await ups.call("messaging", "GET", "/internal/conversations",
                                  params={"cursor": cursor, "limit": limit},
                                  headers=session.headers()))


@router.post("/v1/conversations/{conversation_id}/messages", status_code=201,
             response_model=MessageSent,
             responses={401: ERR, 404: ERR, 409: ERR, 422: ERR, 429: LIMITED})
async def post_message(conversation_id: ConversationId, body: MessageRequest,
                       session: CurrentSession, ups: Ups) -> Response:
    """Send a message: scanned first; `{message_id, verdict}` (MSG-2, MSG-4)."""
    return forward(await ups.call("messaging", "POST", _conv(conversation_id, "/messages"),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/conversations/{conversation_id}/messages", response_model=MessagesPage,
            responses={401: ERR, 404: ERR})
async def list_messages(
    conversation_id: ConversationId, session: CurrentSession, ups: Ups,
    cursor: Annotated[int, Query(ge=0, le=2**62, description="next_cursor of a page.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """`{items: [{message_id, sender_id, verdict, body, posted_at, ...}], next_cursor}`.

    Oldest first. A body past its retention period, or of an erased member, reads
    `"erased"`; participants only (others 404).
    """
    return forward(await ups.call("messaging", "GET", _conv(conversation_id, "/messages"),
                                  params={"cursor": cursor, "limit": limit},
                                  headers=session.headers()))


@router.post("/v1/conversations/{conversation_id}/report", status_code=201,
             response_model=ReportCreated, responses={401: ERR, 404: ERR, 422: ERR})
async def report_conversation(conversation_id: ConversationId, body: AbuseReportRequest,
                              session: CurrentSession, ups: Ups) -> Response:
    """Report a conversation for abuse; trust and safety reviews it (MSG-4)."""
    return forward(await ups.call("messaging", "POST", _conv(conversation_id, "/report"),
                                  json=body.model_dump(), headers=session.headers()))


@router.post("/v1/reports", status_code=201, response_model=ReportCreated,
             responses={422: ERR, 429: LIMITED})
async def report(body: ReportRequest, request: Request, session: OptionalSession, ups: Ups
                 ) -> Response:
    """Report abuse or a security vulnerability, with or without a token (SEC-5)."""
    headers = session.headers() if session else {}
    headers["X-Client-Address"] = client_address(request)
    return forward(await ups.call("messaging", "POST", "/internal/reports",
                                  json=body.model_dump(), headers=headers))


@router.get("/v1/staff/messages/quarantine", responses={401: ERR, 403: FORBIDDEN})
async def quarantine(session: CurrentSession, ups: Ups, purpose: Purpose,
                     limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """Quarantined messages with bodies and reasons (trust_and_safety; read recorded)."""
    return forward(await ups.call("messaging", "GET", "/internal/staff/quarantine",
                                  params={"purpose": purpose, "limit": limit},
                                  headers=session.headers()))


@router.post("/v1/staff/messages/{message_id}/review",
             responses={401: ERR, 403: FORBIDDEN, 404: ERR, 409: ERR})
async def review_message(message_id: MessageId, body: ReviewRequest, session: CurrentSession,
                         ups: Ups) -> Response:
    """Deliver or block a quarantined message (trust_and_safety)."""
    return forward(await ups.call("messaging", "POST",
                                  internal_path("/internal/staff/messages/{message_id}/review",
                                                message_id=message_id),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/staff/reports", responses={401: ERR, 403: FORBIDDEN})
async def list_reports(
    session: CurrentSession, ups: Ups, purpose: Purpose,
    status: Literal["received", "triaged", "resolved", "rejected"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Abuse and vulnerability reports (trust_and_safety; ops: vulnerabilities); recorded."""
    return forward(await ups.call("messaging", "GET", "/internal/staff/reports",
                                  params={"purpose": purpose, "status": status, "limit": limit},
                                  headers=session.headers()))


@router.post("/v1/staff/reports/{report_id}/review",
             responses={401: ERR, 403: FORBIDDEN, 404: ERR})
async def review_report(report_id: ReportId, body: ReportReviewRequest, session: CurrentSession,
                        ups: Ups) -> Response:
    """Triage, resolve or reject a report."""
    return forward(await ups.call("messaging", "POST",
                                  internal_path("/internal/staff/reports/{report_id}/review",
                                                report_id=report_id),
                                  json=body.model_dump(), headers=session.headers()))


@router.post("/v1/staff/disputes", status_code=201,
             responses={401: ERR, 403: FORBIDDEN, 404: ERR, 422: ERR})
async def open_dispute(body: DisputeRequest, session: CurrentSession, ups: Ups) -> Response:
    """Register a dispute linked to an account; holds its erasure while open (SEC-3)."""
    return forward(await ups.call("messaging", "POST", "/internal/staff/disputes",
                                  json=body.model_dump(), headers=session.headers()))


@router.post("/v1/staff/disputes/{dispute_id}/close",
             responses={401: ERR, 403: FORBIDDEN, 404: ERR, 409: ERR})
async def close_dispute(dispute_id: DisputeId, body: DisputeClosing, session: CurrentSession,
                        ups: Ups) -> Response:
    """Close a dispute (SEC-3)."""
    return forward(await ups.call("messaging", "POST",
                                  internal_path("/internal/staff/disputes/{dispute_id}/close",
                                                dispute_id=dispute_id),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/staff/disputes", responses={401: ERR, 403: FORBIDDEN})
async def list_disputes(
    session: CurrentSession, ups: Ups, purpose: Purpose,
    account_id: Annotated[str | None, Query(pattern=ID)] = None,
) -> Response:
    """The disputes register (trust_and_safety; read recorded)."""
    return forward(await ups.call("messaging", "GET", "/internal/staff/disputes",
                                  params={"purpose": purpose, "account_id": account_id},
                                  headers=session.headers()))


@router.get("/v1/staff/notices", responses={401: ERR, 403: FORBIDDEN})
async def notices(session: CurrentSession, ups: Ups, purpose: Purpose) -> Response:
    """Suspicious-activity notices by public username (trust_and_safety, SEC-3); recorded."""
    return forward(await ups.call("messaging", "GET", "/internal/staff/notices",
                                  params={"purpose": purpose}, headers=session.headers()))


@router.get("/v1/staff/messaging/access-log", responses={401: ERR, 403: FORBIDDEN})
async def messaging_access_log(
    session: CurrentSession, ups: Ups,
    subject_id: Annotated[str | None, Query(pattern=ID, description="Reads of this member.")]
    = None,
    staff_account_id: Annotated[str | None, Query(pattern=ID,
                                                  description="Reads by this staff member.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Staff reads of messages, reports, disputes and notices, newest first (DPO, auditor).

    `{items: [{access_id, staff_account_id, role, subject_id, purpose, kind, item_ids,
    accessed_at}]}`: ids and codes, never values (SEC-2).
    """
    return forward(await ups.call(
        "messaging", "GET", "/internal/staff/access-log",
        params={"subject_id": subject_id, "staff_account_id": staff_account_id, "limit": limit},
        headers=session.headers()))
