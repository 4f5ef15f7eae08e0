"""Staff routes of the retention service: the data register and privacy-request work.

The gateway signs the caller's account id; this service checks the caller's staff roles
against its own projection of the accounts service's role events (SEC-2).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from contracts.personal import DataCategory
from contracts.privacy import HOLD_REFERENCE_PATTERN, RequestType
from kernel.guard import guard_of
from kernel.http import ApiError
from kernel.logs import get_logger
from kernel.service import Runtime
from retention.adapters import holds as hold_rows
from retention.adapters import lifecycle, requests
from retention.domain import commands
from retention.domain.requests import InvalidTransition
from retention.domain.sharing import Disclosure, DisclosureRefused
from retention.entrypoints.common import part as _part
from retention.entrypoints.common import runtime as _rt
from retention.service_layer import handlers, holds, sharing

log = get_logger(__name__)

router = APIRouter()

REGISTER_READERS = frozenset({"dpo", "auditor"})
"""Who may read the data register (RET-1); members see their part in the access export."""

REQUEST_WORKERS = frozenset({"dpo", "support"})
"""Who may enter, verify, refuse and list privacy requests (PRV-7)."""

AccountId = Annotated[str | None, Header(alias="X-Account-Id")]


class StaffEnteredRequest(BaseModel):
    """A request that reached support staff by form, e-mail or post (PRV-7)."""

    subject_id: str = Field(min_length=1, max_length=200, description="Whose data (account id).")
    type: RequestType = Field(description="Which right.")
    channel: Literal["form", "email", "post"] = Field(description="How it arrived.")


class RefusalIn(BaseModel):
    """Why a request is refused."""

    reason: str = Field(min_length=1, max_length=500, description="Reason; no personal data.")



async def require_role(rt: Runtime, account_id: str | None, allowed: frozenset[str]) -> str:
    """The caller's account id when one of its staff roles is ``allowed``.

    Raises:
        ApiError: 401 without a caller, 403 when no role of the caller is allowed.
    """
    if not account_id:
        raise ApiError(401, "unauthenticated", "a staff session is required")
    async with rt.pool.acquire() as conn:
        held = await _part(rt, "staff").of(conn, account_id)
    if not held & allowed:
        raise ApiError(403, "forbidden", "your staff roles do not allow it")
    return account_id


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/internal/data-register")
async def data_register(request: Request, x_account_id: AccountId = None) -> dict[str, Any]:
    """The data register, whole (RET-1): DPOs and auditors."""
    rt = _rt(request)
    await require_role(rt, x_account_id, REGISTER_READERS)
    body: dict[str, Any] = _part(rt, "register").as_dict()
    return body


@router.get("/internal/staff/privacy-requests")
async def open_requests(
    request: Request, x_account_id: AccountId = None,
    overdue: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Requests not yet ended, soonest deadline first; only overdue ones if asked (PRV-7)."""
    rt = _rt(request)
    await require_role(rt, x_account_id, REQUEST_WORKERS)
    now = _now()
    async with rt.pool.acquire() as conn:
        rows = await requests.open_rows(conn, now, overdue, limit)
        total, late = await requests.count_open(conn, now)
    items = [{**handlers.view(r), "subject_id": r["subject_id"], "overdue": r["due_at"] < now,
              "escalated": list(r["escalated"])} for r in rows]
    return {"items": items, "open": total, "overdue": late}


@router.post("/internal/staff/privacy-requests", status_code=202)
async def enter_request(body: StaffEnteredRequest, request: Request,
                        x_account_id: AccountId = None) -> dict[str, str]:
    """Support staff enter a request that came by form, e-mail or post; it awaits verification."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, REQUEST_WORKERS)
    cmd = commands.SubmitPrivacyRequest(body.subject_id, body.type, body.channel, False)
    done = await handlers.submit_request(rt.pool, _part(rt, "requests"), rt.keys, cmd, _now())
    log.info("privacy.request_entered_by_staff", request_id=done.request_id,
             staff_account_id=staff, channel=body.channel)
    return {"request_id": done.request_id, "status_token": done.status_token,
            "status": "received"}


@router.post("/internal/privacy-requests/{request_id}/verify")
async def verify(request_id: str, request: Request,
                 x_account_id: AccountId = None) -> dict[str, str]:
    """Support staff verified the identity behind a form, e-mail or post request (PRV-7)."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, REQUEST_WORKERS)
    try:
        new = await handlers.verify_request(
            rt.pool, _part(rt, "requests"), rt.keys, commands.VerifyPrivacyRequest(request_id),
            _now(), timedelta(seconds=rt.settings.erasure_grace_seconds),  # type: ignore[attr-defined]
        )
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from exc
    log.info("privacy.request_verified", request_id=request_id, staff_account_id=staff)
    return {"request_id": request_id, "status": new}


@router.post("/internal/staff/privacy-requests/{request_id}/cancel")
async def staff_cancel(request_id: str, request: Request,
                       x_account_id: AccountId = None) -> dict[str, str]:
    """Support staff cancel an erasure within its grace window, at the member's request
    by form, e-mail or post; the account unlocks."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, REQUEST_WORKERS)
    try:
        new = await handlers.cancel_erasure(rt.pool, _part(rt, "requests"), request_id,
                                            "staff", _now())
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except InvalidTransition as exc:
        raise ApiError(409, "not_cancellable", "only an erasure whose key has not been "
                       "shredded yet can be cancelled") from exc
    log.info("privacy.erasure_cancelled_by_staff", request_id=request_id,
             staff_account_id=staff)
    return {"request_id": request_id, "status": new}


@router.post("/internal/privacy-requests/{request_id}/complete")
async def complete(request_id: str, request: Request,
                   x_account_id: AccountId = None) -> dict[str, str]:
    """Staff applied a verified rectification the member could not make (PRV-3)."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, REQUEST_WORKERS)
    try:
        new = await handlers.complete_request(rt.pool, _part(rt, "requests"), request_id, _now())
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from exc
    log.info("privacy.request_completed_by_staff", request_id=request_id, staff_account_id=staff)
    return {"request_id": request_id, "status": new}


@router.post("/internal/privacy-requests/{request_id}/refuse")
async def refuse(request_id: str, body: RefusalIn, request: Request,
                 x_account_id: AccountId = None) -> dict[str, str]:
    """Refuse a request with its reason (PRV-7)."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, REQUEST_WORKERS)
    try:
        new = await handlers.refuse_request(
            rt.pool, _part(rt, "requests"), commands.RefusePrivacyRequest(request_id, body.reason),
            _now(),
        )
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from exc
    log.info("privacy.request_refused", request_id=request_id, staff_account_id=staff)
    return {"request_id": request_id, "status": new}


HOLD_KEEPERS = frozenset({"dpo", "trust_and_safety"})
"""Who may place and release legal holds (RET-4)."""

HOLD_READERS = HOLD_KEEPERS | {"auditor"}


class HoldIn(BaseModel):
    """A legal hold to place (RET-4)."""

    subject_id: str = Field(min_length=1, max_length=200, description="Whose data (account id).")
    category: DataCategory | None = Field(None, description="Only this category; omit: all.")
    reason: str = Field(min_length=1, max_length=300,
                        description="Why: investigation, dispute, court case; no personal data.")
    authority: str = Field(min_length=1, max_length=200,
                           description="Who requires it: a court, the police, the DPO.")
    case_reference: str = Field(pattern=HOLD_REFERENCE_PATTERN, description="The case.")


@router.post("/internal/staff/legal-holds", status_code=201)
async def place_hold(body: HoldIn, request: Request,
                     x_account_id: AccountId = None) -> dict[str, Any]:
    """Freeze a subject's data from deletion by schedule or request (RET-4)."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, HOLD_KEEPERS)
    category = body.category.value if body.category else None
    async with rt.pool.acquire() as conn:
        hold_id = await holds.place_hold(conn, rt.store, body.subject_id, category,
                                         body.reason, body.authority, body.case_reference,
                                         staff, _now())
        [row] = [r for r in await hold_rows.active(conn, body.subject_id)
                 if r["hold_id"] == hold_id]
    return hold_rows.as_dict(row)


@router.post("/internal/staff/legal-holds/{hold_id}/release")
async def release_hold(hold_id: str, request: Request,
                       x_account_id: AccountId = None) -> dict[str, str]:
    """Release a hold; the subject's waiting erasure starts once no hold is left (RET-4)."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, HOLD_KEEPERS)
    async with rt.pool.acquire() as conn:
        done = await holds.release_hold(conn, rt.store, _part(rt, "requests"), rt.keys,
                                        hold_id, staff, _now())
    if not done:
        raise ApiError(404, "not_found", "no such active legal hold")
    return {"hold_id": hold_id, "status": "released"}


@router.get("/internal/staff/legal-holds")
async def list_holds(
    request: Request, x_account_id: AccountId = None,
    subject_id: Annotated[str | None, Query(max_length=200)] = None,
    include_released: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Legal holds, newest first (DPOs, trust and safety, auditors)."""
    rt = _rt(request)
    await require_role(rt, x_account_id, HOLD_READERS)
    async with rt.pool.acquire() as conn:
        rows = await hold_rows.listing(conn, subject_id, include_released, limit)
    return {"items": [hold_rows.as_dict(r) for r in rows]}


DISCLOSERS = frozenset({"dpo"})
"""Who discloses a member's data to a recipient (SHR-1 … SHR-5): the DPO."""


class DisclosureIn(BaseModel):
    """A disclosure the DPO is about to make, as the recipients register must allow it."""

    subject_id: str = Field(min_length=1, max_length=200, description="Whose data.")
    recipient: str = Field(min_length=1, max_length=100,
                           description="The recipient's code in the recipients register.")
    purpose: str = Field(min_length=1, max_length=100, description="Why it is disclosed.")
    categories: list[DataCategory] = Field(min_length=1, max_length=20,
                                           description="The data categories to disclose.")
    legal_basis: Literal["consent", "contract", "legitimate_interest", "legal_obligation"] = (
        Field(description="The legal basis of the disclosure."))
    authority: str | None = Field(None, min_length=1, max_length=200,
                                  description="Requesting authority (law enforcement).")
    case_reference: str | None = Field(None, min_length=1, max_length=100,
                                       description="The authority's case reference.")


@router.post("/internal/staff/disclosures", status_code=201)
async def disclose(body: DisclosureIn, request: Request,
                   x_account_id: AccountId = None) -> dict[str, Any]:
    """Check a disclosure against the recipients register and log it (SHR-1 … SHR-5);
    answers what may be sent: the recipient, purpose and categories, never more."""
    rt = _rt(request)
    staff = await require_role(rt, x_account_id, DISCLOSERS)
    asked = Disclosure(body.subject_id, body.recipient, body.purpose,
                       tuple(c.value for c in body.categories), body.legal_basis,
                       body.authority, body.case_reference)
    try:
        async with rt.pool.acquire() as conn:
            done = await sharing.disclose(conn, rt.store, guard_of(rt),
                                          _part(rt, "recipients"), asked, _now())
    except DisclosureRefused as exc:
        status = 403 if exc.code == "consent_missing" else 422
        raise ApiError(status, exc.code, str(exc)) from exc
    log.info("sharing.disclosed_by_staff", disclosure_id=done["disclosure_id"],
             staff_account_id=staff)
    return done


@router.get("/internal/staff/disclosures")
async def disclosures(request: Request, subject_id: Annotated[str, Query(max_length=200)],
                      x_account_id: AccountId = None) -> dict[str, Any]:
    """Every disclosure of a subject's data, newest first (SHR-1): DPOs and auditors."""
    rt = _rt(request)
    await require_role(rt, x_account_id, REGISTER_READERS)
    async with rt.pool.acquire() as conn:
        return {"items": await sharing.listing(conn, subject_id)}


@router.get("/internal/staff/retention-actions")
async def retention_actions(request: Request,
                            subject_id: Annotated[str, Query(min_length=1, max_length=200)],
                            x_account_id: AccountId = None) -> dict[str, Any]:
    """What the retention schedule did with a subject's categories and every service's
    receipt for it (RET-2, RET-4, RET-6): DPOs and auditors."""
    rt = _rt(request)
    await require_role(rt, x_account_id, REGISTER_READERS)
    async with rt.pool.acquire() as conn:
        return await lifecycle.actions_of(conn, subject_id)
