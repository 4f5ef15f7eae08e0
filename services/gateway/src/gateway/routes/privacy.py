"""Public routes of data-subject requests (PRV-5, PRV-7), orchestrated by retention."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import CurrentSession, Session, Ups, bearer_token, forward, optional_session
from kernel.http import ApiError

router = APIRouter(tags=["privacy"])

STATUS_TOKEN_PREFIX = "prs_"  # noqa: S105 - a prefix, not a secret
"""Status tokens start with this, so they are never sent to accounts as session tokens."""

_ERR = {"content": {"application/json": {"example": {"error": {"code": "...", "message": "..."}}}}}


class PrivacyRequestIn(BaseModel):
    """A data-subject request; the member it concerns is the session's."""

    model_config = ConfigDict(extra="allow")

    type: Literal["access", "portability", "rectification", "erasure", "restriction",
                  "objection"] = Field(description="Which right the member exercises.")
    details: str | None = Field(
        None, max_length=2000,
        description="Free text (e.g. what to rectify or object to); not used for erasure.",
    )


class PrivacyRequestAccepted(BaseModel):
    """The request was received; keep the status token to follow it after an erasure."""

    request_id: str = Field(description="The request.")
    status_token: str = Field(
        description="Bearer token reading this request's status, valid until 30 days after "
                    "the request ends (also once an erasure has ended every session)."
    )


class Receipt(BaseModel):
    """One service's answer to an erasure."""

    service: str = Field(description="The service.")
    status: Literal["pending", "completed", "failed"] = Field(description="Its outcome.")
    at: str | None = Field(None, description="When it was issued (ISO-8601).")


class PrivacyRequestOut(BaseModel):
    """A privacy request and where it stands (PRV-7)."""

    request_id: str = Field(description="The request.")
    type: str = Field(description="Which right.")
    status: Literal["received", "verified", "in_progress", "completed", "refused"] = Field(
        description="Lifecycle status."
    )
    due_at: str = Field(description="One-month deadline (ISO-8601).")
    receipts: list[Receipt] = Field(description="One per service an erasure awaits.")
    exceptions: list[Any] = Field(description="Lawful exceptions to the erasure, if any.")


@router.post(
    "/v1/privacy-requests", status_code=202, response_model=PrivacyRequestAccepted,
    responses={401: {"description": "No valid session.", **_ERR},
               403: {"description": "Step-up required (`reauth_required`).", **_ERR}},
)
async def submit_privacy_request(
    body: PrivacyRequestIn, ups: Ups, session: CurrentSession
) -> Response:
    """Submit a privacy request; needs an open step-up window (PRV-7).

    Inside the step-up window the request counts as identity-verified: an erasure
    starts at once and ends every session of the member.
    """
    if not session.stepped_up():
        raise ApiError(403, "reauth_required",
                       "re-enter your password (POST /v1/sessions/current/reauth) first")
    resp = await ups.call(
        "retention", "POST", "/internal/privacy-requests", headers=session.headers(),
        json={"subject_id": session.account_id, "type": body.type, "channel": "app",
              "identity_verified": True},
    )
    return forward(resp)


@router.get(
    "/v1/privacy-requests/{request_id}", response_model=PrivacyRequestOut,
    responses={401: {"description": "Neither a session nor a valid status token.", **_ERR},
               404: {"description": "No such request, or another member's.", **_ERR}},
)
async def get_privacy_request(
    request_id: str, ups: Ups, token: Annotated[str | None, Depends(bearer_token)],
    request: Request,
) -> Response:
    """A request's status, with the member's session or ``Bearer <status_token>``."""
    if not _is_uuid(request_id):
        raise ApiError(404, "not_found", "no such privacy request")
    if token is not None and token.startswith(STATUS_TOKEN_PREFIX):
        headers = {"X-Status-Token": token}
    else:
        session = _require(await _session(request, token))
        headers = session.headers()
    resp = await ups.call("retention", "GET", f"/internal/privacy-requests/{request_id}",
                          headers=headers)
    return forward(resp)


async def _session(request: Request, token: str | None) -> Session | None:
    if token is None:
        return None
    return await optional_session(
        request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _require(session: Session | None) -> Session:
    if session is None:
        raise ApiError(401, "unauthenticated", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    return session
