"""The internal HTTP API (the gateway is its one client): parse, call, answer.

The gateway validates bodies and vouches for the caller in ``X-Account-Id`` (signed).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from kernel.http import ApiError, error_response
from messaging.domain.errors import Invalid, MessagingError, RateLimited
from messaging.scanning.api import Attachment
from messaging.service_layer import conversations, intake
from messaging.service_layer.context import Context

router = APIRouter(prefix="/internal", tags=["messaging"])


def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A domain refusal as the API's JSON error (messages never quote input)."""
    assert isinstance(exc, MessagingError)
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited)
               else {"Retry-After": "1"} if exc.code == "not_known_yet" else None)
    return error_response(exc.status, exc.code, exc.message, headers)


async def context(request: Request) -> Context:
    """The handlers' context, once the service has started."""
    runtime = getattr(request.app.state, "runtime", None)
    ctx = runtime.extra.get("ctx") if runtime is not None else None
    if ctx is None:
        raise ApiError(503, "unavailable", "the messaging service is starting",
                       {"Retry-After": "1"})
    return ctx  # type: ignore[no-any-return]


def _account(x_account_id: Annotated[str | None, Header()] = None) -> str:
    if not x_account_id:
        raise ApiError(401, "unauthenticated", "a signed-in member is required")
    return x_account_id


Ctx = Annotated[Context, Depends(context)]
Account = Annotated[str, Depends(_account)]


class NewConversation(BaseModel):
    """A conversation about a listing."""

    listing_id: str
    recipient_account_id: str


class FileIn(BaseModel):
    """An attachment as sent."""

    filename: str
    content_base64: str


class NewMessage(BaseModel):
    """A message."""

    body: str
    attachments: list[FileIn] = Field(default_factory=list)


class AbuseReport(BaseModel):
    """A participant's report of a conversation."""

    reason: str
    note: str | None = None


class IntakeReport(BaseModel):
    """An abuse or vulnerability report (SEC-5)."""

    kind: str
    text: str
    contact: str | None = None


def _files(files: list[FileIn]) -> list[Attachment]:
    out = []
    for i, f in enumerate(files):
        try:
            out.append(Attachment(f.filename, base64.b64decode(f.content_base64, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise Invalid(f"attachments[{i}].content_base64: not valid base64") from exc
    return out


@router.post("/conversations", status_code=201)
async def start(body: NewConversation, account: Account, ctx: Ctx) -> dict[str, str]:
    """Start a conversation about a listing (MSG-1)."""
    return {"conversation_id": await conversations.start(
        account, body.listing_id, body.recipient_account_id, ctx)}


@router.get("/conversations")
async def mine(account: Account, ctx: Ctx, cursor: str | None = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """The caller's conversations (MSG-1)."""
    return await conversations.conversations(account, cursor, limit, ctx)


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def post(conversation_id: str, body: NewMessage, account: Account, ctx: Ctx
               ) -> dict[str, str]:
    """Post a message: scanned first (MSG-2), rate-limited (MSG-4)."""
    return await conversations.post(account, conversation_id, body.body,
                                    _files(body.attachments), ctx)


@router.get("/conversations/{conversation_id}/messages")
async def messages(conversation_id: str, account: Account, ctx: Ctx,
                   cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
                   limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    """A page of messages, oldest first (MSG-1); participants only (others 404).

    Serialised once, by orjson: a page is the service's largest answer.
    """
    page = await conversations.messages(account, conversation_id, cursor, limit, ctx)
    return Response(orjson.dumps(page), media_type="application/json")


@router.post("/conversations/{conversation_id}/report", status_code=201)
async def report(conversation_id: str, body: AbuseReport, account: Account, ctx: Ctx
                 ) -> dict[str, str]:
    """Report a conversation for abuse (MSG-4)."""
    return {"report_id": await conversations.report(account, conversation_id, body.reason,
                                                     body.note, ctx)}


@router.post("/reports", status_code=201)
async def receive(body: IntakeReport, ctx: Ctx,
                  x_account_id: Annotated[str | None, Header()] = None,
                  x_client_address: Annotated[str | None, Header()] = None) -> dict[str, str]:
    """Take an abuse or vulnerability report in, signed in or not (SEC-5)."""
    return {"report_id": await intake.receive(body.kind, body.text, body.contact,
                                              x_account_id or None, x_client_address, ctx)}
