"""The internal HTTP API (the gateway is its one client, signed): parse, call, answer."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consent.domain import commands
from consent.domain.errors import ConsentError, TooManyWrites
from consent.service_layer import handlers
from consent.service_layer.context import Context
from contracts.staff import AccessPurpose
from kernel.http import ApiError, error_response

router = APIRouter(prefix="/internal", tags=["consent"])

STATUS = {"not_found": 404, "not_consent_based": 409, "invalid": 422, "forbidden": 403,
          "too_many_attempts": 429}
VISITOR = re.compile(r"^visitor-[0-9a-f]{32}$")


def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A domain refusal as the API's JSON error (never echoing input)."""
    assert isinstance(exc, ConsentError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyWrites) else None
    return error_response(STATUS.get(exc.code, 422), exc.code, exc.message, headers)


async def context(request: Request) -> Context:
    """The handlers' context, once the service has started."""
    runtime = getattr(request.app.state, "runtime", None)
    ctx = runtime.extra.get("ctx") if runtime is not None else None
    if ctx is None:
        raise ApiError(503, "unavailable", "the consent service is starting", {"Retry-After": "1"})
    return ctx  # type: ignore[no-any-return]


def member(x_account_id: Annotated[str | None, Header(alias="X-Account-Id")] = None) -> str:
    """The authenticated account the gateway vouches for; 401 without one."""
    if not x_account_id:
        raise ApiError(401, "unauthenticated", "no authenticated account")
    return x_account_id


def optional_member(
    x_account_id: Annotated[str | None, Header(alias="X-Account-Id")] = None,
) -> str | None:
    """The authenticated account, if any."""
    return x_account_id or None


Ctx = Annotated[Context, Depends(context)]
Member = Annotated[str, Depends(member)]
AsOf = Annotated[datetime | None, Query(description="ISO-8601 instant with time zone.")]


def _instant(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, "invalid", "as_of needs a time zone")
    return value


class Decision(BaseModel):
    """``PUT /v1/me/consents/{purpose}``."""

    granted: bool = Field(description="Grant (true) or withdraw / object (false).")


class Preferences(BaseModel):
    """``PUT /v1/me/preferences``: channel → kind → allowed; only what changes."""

    channels: dict[str, dict[str, bool]] = Field(description="e.g. {email: {newsletters: false}}")


class Restriction(BaseModel):
    """Restrict processing (PRV-6)."""

    restricted: bool = Field(description="True restricts, false lifts.")


class Cookies(BaseModel):
    """Cookie categories; functional cookies are always on (CNS-8)."""

    analytics: bool = Field(False, description="Analytics cookies.")
    marketing: bool = Field(False, description="Marketing and tracking cookies.")
    visitor_id: str | None = Field(None, description="Anonymous visitor id given before.")


@router.get("/catalogue")
async def catalogue(ctx: Ctx) -> dict[str, Any]:
    """Every purpose with its legal basis and texts, and the statement versions (CNS-6)."""
    return ctx.catalogue.view()


@router.get("/consents")
async def my_consents(account_id: Member, ctx: Ctx, as_of: AsOf = None) -> dict[str, Any]:
    """The member's consents and preferences, now or at ``as_of`` with the entries."""
    return await handlers.read_consents(account_id, ctx, _instant(as_of))


@router.put("/consents/{purpose}")
async def decide(purpose: str, body: Decision, account_id: Member, ctx: Ctx) -> dict[str, Any]:
    """Grant, withdraw or object (CNS-2, CNS-3, PRV-4)."""
    return await handlers.set_consent(
        commands.SetConsent(account_id, purpose, body.granted), ctx)


@router.put("/preferences")
async def preferences(body: Preferences, account_id: Member, ctx: Ctx) -> dict[str, Any]:
    """Channel-and-kind preferences (CNS-1)."""
    return await handlers.set_preferences(commands.SetPreferences(account_id, body.channels), ctx)


@router.put("/restriction")
async def restriction(body: Restriction, account_id: Member, ctx: Ctx) -> dict[str, Any]:
    """The member restricts processing or lifts it (PRV-6)."""
    return await handlers.set_restriction(
        commands.SetRestriction(account_id, body.restricted, "member"), ctx)


def _cookie_subject(account_id: str | None, visitor_id: str | None) -> str | None:
    if account_id:
        return account_id
    if visitor_id is not None and not VISITOR.match(visitor_id):
        raise ApiError(422, "invalid", "visitor_id is not one this platform gave")
    return visitor_id


@router.get("/cookies")
async def cookies(ctx: Ctx, account_id: Annotated[str | None, Depends(optional_member)],
                  visitor_id: Annotated[str | None, Query(max_length=60)] = None,
                  ) -> dict[str, Any]:
    """Cookie choices of the member or visitor; defaults for an unknown visitor."""
    subject = _cookie_subject(account_id, visitor_id) or f"visitor-{uuid4().hex}"
    return {**await handlers.read_cookies(subject, ctx),
            "visitor_id": None if account_id else subject}


@router.put("/cookies")
async def set_cookies(
    body: Cookies, ctx: Ctx, account_id: Annotated[str | None, Depends(optional_member)],
    client_address: Annotated[str | None, Header(alias="X-Client-Address")] = None,
) -> dict[str, Any]:
    """Record cookie choices of a member, or of a visitor (a random id, no other data)."""
    subject = _cookie_subject(account_id, body.visitor_id) or f"visitor-{uuid4().hex}"
    view = await handlers.set_cookies(
        commands.SetCookies(subject, body.analytics, body.marketing, client_address), ctx)
    return {**view, "visitor_id": None if account_id else subject}


@router.post("/unsubscribe/{token}")
async def unsubscribe(token: str, ctx: Ctx) -> dict[str, Any]:
    """One-click unsubscribe: no log-in; idempotent; 404 for any token not genuine."""
    return await handlers.unsubscribe(commands.Unsubscribe(token), ctx)


@router.get("/staff/consents/{subject_id}")
async def staff_consents(
    subject_id: str, account_id: Member, ctx: Ctx,
    purpose: Annotated[AccessPurpose, Query(description="Why you look.")],
    as_of: AsOf = None,
) -> dict[str, Any]:
    """A DPO reads a member's consent state at an instant and its ledger (CNS-5)."""
    return await handlers.staff_read(
        commands.StaffReadLedger(account_id, subject_id, purpose, _instant(as_of)), ctx)


@router.put("/staff/restriction/{subject_id}")
async def staff_restriction(subject_id: str, body: Restriction, account_id: Member,
                            ctx: Ctx) -> dict[str, Any]:
    """A DPO restricts a member's processing or lifts it (PRV-6)."""
    return await handlers.staff_restrict(
        account_id, commands.SetRestriction(subject_id, body.restricted, "dpo"), ctx)
