"""Public routes of data-subject requests (PRV-5, PRV-7), orchestrated by retention."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from contracts.personal import DataCategory
from contracts.privacy import HOLD_REFERENCE_PATTERN, SubjectExport
from gateway.deps import (
    UUID_PATTERN,
    CurrentSession,
    Session,
    Ups,
    bearer_token,
    forward,
    internal_path,
    optional_session,
    path_param,
    uuid_param,
)
from gateway.routes.members import MeUpdate
from kernel.http import ApiError

router = APIRouter(tags=["privacy"])

STATUS_TOKEN_PREFIX = "prs_"  # noqa: S105 - a prefix, not a secret
"""Status tokens start with this, so they are never sent to accounts as session tokens."""

RequestId = Annotated[str, uuid_param("request_id", "privacy request", "The request.")]
HoldId = Annotated[str, path_param(
    "hold_id", "^(dispute-)?" + UUID_PATTERN[1:], "active legal hold",
    "The hold: a UUID, or `dispute-<dispute id>` for an open dispute's hold.")]

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
    changes: MeUpdate | None = Field(
        None, description="For a rectification of account data (PRV-3): the corrected fields, "
                          "as `PATCH /v1/me` takes them; applied at once and the request "
                          "completed. Without it, support staff carry the rectification out.",
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
    erasure_at: str | None = Field(
        None, description="An erasure in its grace window: when the key is shredded unless "
                          "the erasure is cancelled before (ISO-8601); the account is locked "
                          "meanwhile.")


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
    applied = False
    if body.changes is not None:
        if body.type != "rectification":
            raise ApiError(422, "invalid", "changes: only a rectification carries changes")
        own = internal_path("/internal/accounts/{account_id}", account_id=session.account_id)
        done = await ups.call("accounts", "PATCH", own, json=body.changes.changes(),
                              headers=session.headers())
        if done.status_code != 200:
            return forward(done)
        applied = True
    resp = await ups.call(
        "retention", "POST", "/internal/privacy-requests", headers=session.headers(),
        json={"subject_id": session.account_id, "type": body.type, "channel": "app",
              "identity_verified": True, "carried_out": applied},
    )
    return forward(resp)


@router.get(
    "/v1/privacy-requests/{request_id}", response_model=PrivacyRequestOut,
    responses={401: {"description": "Neither a session nor a valid status token.", **_ERR},
               404: {"description": "No such request, or another member's.", **_ERR}},
)
async def get_privacy_request(
    request_id: RequestId, ups: Ups, token: Annotated[str | None, Depends(bearer_token)],
    request: Request,
) -> Response:
    """A request's status, with the member's session or ``Bearer <status_token>``."""
    headers = await _requester(request_id, request, token)
    resp = await ups.call("retention", "GET", _request(request_id),
                          headers=headers)
    return forward(resp)


async def _requester(request_id: str, request: Request, token: str | None) -> dict[str, str]:
    """Who asks about a request: the holder of its status token, or the member's session."""
    if token is not None and token.startswith(STATUS_TOKEN_PREFIX):
        return {"X-Status-Token": token}
    return _require(await _session(request, token)).headers()


@router.post(
    "/v1/privacy-requests/{request_id}/cancel", response_model=PrivacyRequestOut,
    responses={401: {"description": "Neither a session nor a valid status token.", **_ERR},
               404: {"description": "No such request, or another member's.", **_ERR},
               409: {"description": "`not_cancellable`: not an erasure, or its key is "
                                    "already shredded.", **_ERR}},
)
async def cancel_privacy_request(
    request_id: RequestId, ups: Ups, token: Annotated[str | None, Depends(bearer_token)],
    request: Request,
) -> Response:
    """Cancel an erasure within its grace window (PRV-5): the account unlocks and the member
    is whole again. The account is locked meanwhile, so the request's status token
    (``Bearer <status_token>``) is what the member cancels with; the status turns
    ``refused`` with the reason ``cancelled by the subject``."""
    headers = await _requester(request_id, request, token)
    return forward(await ups.call("retention", "POST",
                                  _request(request_id, "/cancel"),
                                  headers=headers))


@router.get(
    "/v1/privacy-requests/{request_id}/export", response_model=SubjectExport,
    responses={401: {"description": "No valid session.", **_ERR},
               404: {"description": "No such request, or another member's.", **_ERR},
               409: {"description": "`not_ready` (still being assembled: retry after "
                                    "`Retry-After`) or `not_an_export`.", **_ERR},
               410: {"description": "`expired`: exports are deleted after 7 days.", **_ERR}},
)
async def get_privacy_export(request_id: RequestId, ups: Ups,
                             session: CurrentSession) -> Response:
    """The export of an access or portability request (PRV-1, PRV-2).

    One JSON document (format `marketplace.subject-export`, version 1; its JSON Schema is
    this route's response schema) assembled from every service: per data category the
    values held and by which service, with the category's source, purposes, legal basis,
    recipients and retention period from the data register. Readable for 7 days.
    """
    return forward(await ups.call("retention", "GET",
                                  _request(request_id, "/export"),
                                  headers=session.headers()))


class ErasureProofOut(BaseModel):
    """The signed proof of a completed erasure (PRV-5, RET-5); holds no personal data."""

    proof: dict[str, Any] = Field(
        description="The signed statement: format, format_version, request_id, subject_sha256 "
                    "(SHA-256 of the account id), requested_at, key_destroyed_at, "
                    "completed_at, receipts [{service, confirmed_at}], key_id.")
    signature: str = Field(description="Ed25519 over the proof as JSON with sorted keys and "
                                       "no spaces, base64.")
    algorithm: Literal["Ed25519"]


class ProofKeyOut(BaseModel):
    """The public key that verifies erasure proofs."""

    algorithm: Literal["Ed25519"]
    key_id: str = Field(description="The first 16 hex digits of the key's SHA-256.")
    public_key: str = Field(description="The raw 32-byte public key, base64.")


@router.get(
    "/v1/privacy-requests/{request_id}/proof", response_model=ErasureProofOut,
    responses={401: {"description": "Neither a session nor a valid status token.", **_ERR},
               404: {"description": "No such request, or another member's.", **_ERR},
               409: {"description": "`not_ready`: not a completed erasure.", **_ERR}},
)
async def get_erasure_proof(
    request_id: RequestId, ups: Ups, token: Annotated[str | None, Depends(bearer_token)],
    request: Request,
) -> Response:
    """The signed proof of erasure, with the status token (or the session, before it ends)."""
    if token is not None and token.startswith(STATUS_TOKEN_PREFIX):
        headers = {"X-Status-Token": token}
    else:
        headers = _require(await _session(request, token)).headers()
    return forward(await ups.call("retention", "GET",
                                  _request(request_id, "/proof"),
                                  headers=headers))


@router.get("/v1/erasure-proof-key", response_model=ProofKeyOut)
async def erasure_proof_key(ups: Ups) -> Response:
    """The platform's public key for checking erasure proofs (no session needed)."""
    return forward(await ups.call("retention", "GET", "/internal/erasure-proof-key"))


def _request(request_id: str, suffix: str = "") -> str:
    return internal_path("/internal/privacy-requests/{request_id}" + suffix,
                         request_id=request_id)


async def _session(request: Request, token: str | None) -> Session | None:
    if token is None:
        return None
    return await optional_session(
        request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    )


def _require(session: Session | None) -> Session:
    if session is None:
        raise ApiError(401, "unauthenticated", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    return session


# -- staff: the data register and privacy-request work (RET-1, PRV-7) --------------------------

_FORBIDDEN = {"description": "`forbidden`: your staff roles do not allow it.", **_ERR}


class RegisterEntry(BaseModel):
    """What the data register says about one data category (RET-1)."""

    category: str = Field(description="The category's code, as contracts mark fields with it.")
    name: str = Field(description="Human-readable name.")
    purposes: list[str] = Field(description="Purposes the category is processed for.")
    legal_basis: Literal["consent", "contract", "legitimate_interest", "legal_obligation"]
    retention_days: int = Field(description="Retention period, in days.")
    retention_from: Literal["collected", "last_used", "account_closed"] = Field(
        description="What the period is counted from.")
    max_with_consent_days: int | None = Field(
        description="A longer period the member may consent to (RET-3), if any.")
    sensitivity: Literal["normal", "high"] = Field(description="high: shorter periods.")
    end_of_life: Literal["erase", "pseudonymise"] = Field(
        description="What happens when the period ends (RET-6: keyed HMAC pseudonyms).")
    source: str = Field(description="Where the data comes from.")


class DataRegisterOut(BaseModel):
    """The data register at its current version (RET-1)."""

    version: str = Field(description="The register's version.")
    effective_from: str = Field(description="Since when this version applies (ISO-8601 date).")
    categories: list[RegisterEntry] = Field(description="Every data category.")


class StaffRequestIn(BaseModel):
    """A request that reached support staff by form, e-mail or post (PRV-7)."""

    subject_id: str = Field(min_length=1, max_length=100, description="The member's account id.")
    type: Literal["access", "portability", "rectification", "erasure", "restriction",
                  "objection"] = Field(description="Which right the member exercises.")
    channel: Literal["form", "email", "post"] = Field(description="How the request arrived.")


class StaffRequestAccepted(PrivacyRequestAccepted):
    """The request is recorded as `received`; verify the member's identity next."""

    status: Literal["received"] = Field(description="Awaiting identity verification.")


class RefusalIn(BaseModel):
    """Why a request is refused."""

    reason: str = Field(min_length=1, max_length=500,
                        description="The reason given to the member; no personal data.")


class StatusOut(BaseModel):
    """Where a request stands after a staff action."""

    request_id: str
    status: Literal["received", "verified", "in_progress", "completed", "refused"]


class OpenRequest(PrivacyRequestOut):
    """An open request, for staff."""

    subject_id: str = Field(description="The member's account id.")
    channel: str = Field(description="How it arrived: app, form, email or post.")
    received_at: str = Field(description="When it was received (ISO-8601).")
    overdue: bool = Field(description="Whether its one-month deadline has passed.")
    escalated: list[str] = Field(
        description="Services that kept failing to confirm an erasure: the DPO is to act.")


class OpenRequests(BaseModel):
    """Open privacy requests, the soonest due first (PRV-7)."""

    items: list[OpenRequest]
    open: int = Field(description="How many requests are open in all.")
    overdue: int = Field(description="How many of them are past their deadline.")


@router.get("/v1/data-register", response_model=DataRegisterOut,
            responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def data_register(session: CurrentSession, ups: Ups) -> Response:
    """The data register (RET-1): DPOs and auditors."""
    return forward(await ups.call("retention", "GET", "/internal/data-register",
                                  headers=session.headers()))


@router.get("/v1/staff/privacy-requests", response_model=OpenRequests,
            responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def open_privacy_requests(
    session: CurrentSession, ups: Ups,
    overdue: Annotated[bool, Query(description="Only requests past their deadline.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Open privacy requests, soonest deadline first (PRV-7): DPOs and support staff."""
    return forward(await ups.call("retention", "GET", "/internal/staff/privacy-requests",
                                  params={"overdue": str(overdue).lower(), "limit": limit},
                                  headers=session.headers()))


@router.post("/v1/staff/privacy-requests", status_code=202, response_model=StaffRequestAccepted,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def enter_privacy_request(body: StaffRequestIn, session: CurrentSession,
                                ups: Ups) -> Response:
    """Support staff enter a request received by form, e-mail or post (PRV-7).

    It starts as `received`; nothing is carried out until its identity is verified
    (`POST /v1/staff/privacy-requests/{id}/verify`). Give the status token to the member.
    """
    return forward(await ups.call("retention", "POST", "/internal/staff/privacy-requests",
                                  json=body.model_dump(), headers=session.headers()))


@router.post("/v1/staff/privacy-requests/{request_id}/verify", response_model=StatusOut,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        404: _ERR, 409: {"description": "`invalid_transition`.", **_ERR}})
async def verify_privacy_request(request_id: RequestId, session: CurrentSession,
                                 ups: Ups) -> Response:
    """Support staff verified the member's identity; a verified erasure starts at once."""
    return forward(await ups.call("retention", "POST",
                                  _request(request_id, "/verify"),
                                  headers=session.headers()))


@router.post("/v1/staff/privacy-requests/{request_id}/cancel", response_model=StatusOut,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        404: _ERR, 409: {"description": "`not_cancellable`.", **_ERR}})
async def staff_cancel_privacy_request(request_id: RequestId, session: CurrentSession,
                                       ups: Ups) -> Response:
    """Support staff cancel an erasure in its grace window for a member who asked by form,
    e-mail or post (PRV-5); the account unlocks."""
    return forward(await ups.call("retention", "POST",
                                  internal_path(
                                      "/internal/staff/privacy-requests/{request_id}/cancel",
                                      request_id=request_id),
                                  headers=session.headers()))


@router.post("/v1/staff/privacy-requests/{request_id}/complete", response_model=StatusOut,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        404: _ERR, 409: {"description": "`invalid_transition`.", **_ERR}})
async def complete_privacy_request(request_id: RequestId, session: CurrentSession,
                                   ups: Ups) -> Response:
    """Staff carried out a verified rectification the member could not make (PRV-3)."""
    return forward(await ups.call("retention", "POST",
                                  _request(request_id, "/complete"),
                                  headers=session.headers()))


@router.post("/v1/staff/privacy-requests/{request_id}/refuse", response_model=StatusOut,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        404: _ERR, 409: {"description": "`invalid_transition`.", **_ERR}})
async def refuse_privacy_request(request_id: RequestId, body: RefusalIn, session: CurrentSession,
                                 ups: Ups) -> Response:
    """Refuse a request with the reason the member is given (PRV-7)."""
    return forward(await ups.call("retention", "POST",
                                  _request(request_id, "/refuse"),
                                  json=body.model_dump(), headers=session.headers()))


# -- staff: legal holds (RET-4) -----------------------------------------------------------------


class HoldIn(BaseModel):
    """A legal hold to place: the data stays until the hold is released (RET-4)."""

    subject_id: str = Field(min_length=1, max_length=100, description="The member's account id.")
    category: DataCategory | None = Field(None, description="Only this category; omit: all.")
    reason: str = Field(min_length=1, max_length=300,
                        description="Why: investigation, dispute, court case; no personal data.")
    authority: str = Field(min_length=1, max_length=200,
                           description="Who requires it: a court, the police, the DPO.")
    case_reference: str = Field(pattern=HOLD_REFERENCE_PATTERN, description="The case.")


class HoldOut(BaseModel):
    """A legal hold."""

    hold_id: str
    kind: Literal["legal_hold"]
    subject_id: str
    category: str | None
    reason: str
    authority: str
    case_reference: str
    since: str = Field(description="When it was placed (ISO-8601).")
    placed_by: str = Field(description="The staff account, or `dispute` for an open dispute.")
    released_by: str | None
    released_at: str | None


class HoldList(BaseModel):
    """Legal holds, newest first."""

    items: list[HoldOut]


@router.post("/v1/staff/legal-holds", status_code=201, response_model=HoldOut,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def place_legal_hold(body: HoldIn, session: CurrentSession, ups: Ups) -> Response:
    """Freeze a member's data from erasure by schedule or request (DPOs, trust and safety).

    An erasure the member asks for meanwhile waits, naming the hold in its `exceptions`.
    """
    return forward(await ups.call("retention", "POST", "/internal/staff/legal-holds",
                                  json=body.model_dump(mode="json"), headers=session.headers()))


@router.post("/v1/staff/legal-holds/{hold_id}/release",
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        404: {"description": "No such active hold.", **_ERR}})
async def release_legal_hold(hold_id: HoldId, session: CurrentSession, ups: Ups) -> Response:
    """Release a hold: `{hold_id, status: released}`; a waiting erasure then proceeds."""
    return forward(await ups.call("retention", "POST",
                                  internal_path("/internal/staff/legal-holds/{hold_id}/release",
                                                hold_id=hold_id),
                                  headers=session.headers()))


@router.get("/v1/staff/legal-holds", response_model=HoldList,
            responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def list_legal_holds(
    session: CurrentSession, ups: Ups,
    subject_id: Annotated[str | None, Query(max_length=100)] = None,
    include_released: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Legal holds, newest first (DPOs, trust and safety, auditors)."""
    return forward(await ups.call(
        "retention", "GET", "/internal/staff/legal-holds",
        params={"subject_id": subject_id, "include_released": str(include_released).lower(),
                "limit": limit}, headers=session.headers()))


class DisclosureIn(BaseModel):
    """A disclosure the DPO is about to make (SHR-1 … SHR-5)."""

    subject_id: str = Field(min_length=1, max_length=200, description="Whose data.")
    recipient: str = Field(min_length=1, max_length=100,
                           description="The recipient's code in the recipients register "
                                       "(`make audit ARGS=records` lists them).")
    purpose: str = Field(min_length=1, max_length=100, description="Why it is disclosed.")
    categories: list[str] = Field(min_length=1, max_length=20,
                                  description="The data categories to disclose.")
    legal_basis: Literal["consent", "contract", "legitimate_interest", "legal_obligation"] = (
        Field(description="The legal basis of the disclosure."))
    authority: str | None = Field(None, min_length=1, max_length=200,
                                  description="Requesting authority (law enforcement, SHR-3).")
    case_reference: str | None = Field(None, min_length=1, max_length=100,
                                       description="The authority's case reference (SHR-3).")


@router.post("/v1/staff/disclosures", status_code=201,
             responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN,
                        422: {"description": "Refused by the recipients register: "
                                             "`unknown_recipient`, `purpose_not_allowed`, "
                                             "`not_minimal`, `request_not_verified`, "
                                             "`transfer_refused`.", **_ERR}})
async def disclose(body: DisclosureIn, session: CurrentSession, ups: Ups) -> Response:
    """Check a disclosure of a member's data against the recipients register and log it
    (DPO). Answers what may be sent; 403 `consent_missing` for third-party marketing
    without the member's consent (SHR-5)."""
    return forward(await ups.call("retention", "POST", "/internal/staff/disclosures",
                                  json=body.model_dump(mode="json"), headers=session.headers()))


@router.get("/v1/staff/disclosures",
            responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def list_disclosures(session: CurrentSession, ups: Ups,
                           subject_id: Annotated[str, Query(max_length=200)]) -> Response:
    """Every disclosure of a member's data, newest first (DPOs, auditors; SHR-1)."""
    return forward(await ups.call("retention", "GET", "/internal/staff/disclosures",
                                  params={"subject_id": subject_id}, headers=session.headers()))


@router.get("/v1/staff/retention-actions",
            responses={401: {"description": "No valid session.", **_ERR}, 403: _FORBIDDEN})
async def retention_actions(session: CurrentSession, ups: Ups,
                            subject_id: Annotated[str, Query(min_length=1, max_length=200)],
                            ) -> Response:
    """What the retention schedule did with a member's data categories (erased,
    pseudonymised, held) and each service's receipt (DPOs, auditors; RET-2, RET-6)."""
    return forward(await ups.call("retention", "GET", "/internal/staff/retention-actions",
                                  params={"subject_id": subject_id}, headers=session.headers()))
