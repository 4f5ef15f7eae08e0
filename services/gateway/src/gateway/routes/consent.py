"""Consent routes (CNS-1..8, PRV-4, PRV-6): consents, preferences, restriction, cookies,
one-click unsubscribe, and the DPO's view of a member's ledger.

Bodies are validated here, at the edge; the consent service decides everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.staff import AccessPurpose
from gateway.client_address import client_address
from gateway.deps import (
    CurrentSession,
    OptionalSession,
    Ups,
    forward,
    internal_path,
    path_param,
    uuid_param,
)
from gateway.ops import CONSENT_DECISIONS

router = APIRouter(tags=["consent"])

ERR = {"description": "Error: `{error: {code, message}}`."}
SLUG = r"^[a-z0-9_]{1,64}$"
VISITOR = r"^visitor-[0-9a-f]{32}$"
UNSUBSCRIBE_LINK = r"^[A-Za-z0-9_-]{4,400}\.[A-Za-z0-9_-]{24}$"
"""kernel.unsubscribe: base64url of (subject, purpose), a dot, base64url of an 18-byte MAC."""


class PurposeState(BaseModel):
    """A purpose's state for the member."""

    purpose: str = Field(description="URL-safe slug.")
    granted: bool = Field(description="In effect (consent given, or no objection).")
    legal_basis: str = Field(
        description="consent, contract, legitimate_interest or legal_obligation.")
    statement_version: int = Field(description="Statement version of the last decision.")
    updated_at: str | None = Field(description="When the member last decided, if ever.")
    needs_reconsent: bool = Field(description="Given under a statement whose text changed.")
    objected: bool = Field(description="Objected to (legitimate-interest purposes).")


class Consents(BaseModel):
    """`GET /v1/me/consents`: every purpose, channel-and-kind preferences, restriction."""

    model_config = ConfigDict(extra="allow")

    purposes: list[PurposeState]
    channels: dict[str, dict[str, bool]] = Field(description="channel → kind → allowed.")
    restricted: bool = Field(description="Processing restricted (PRV-6).")


class Decision(BaseModel):
    """`PUT /v1/me/consents/{purpose}`."""

    model_config = ConfigDict(extra="forbid")

    granted: bool = Field(
        description="true grants (or lifts an objection); false withdraws or objects.")


class Preferences(BaseModel):
    """`PUT /v1/me/preferences`: only the channels and kinds that change."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[str, dict[str, bool]] = Field(
        description="channel (email, phone, sms, post, push) → kind (service_messages, "
                    "newsletters, special_offers) → allowed.")


class Restriction(BaseModel):
    """`PUT /v1/me/restriction` (PRV-6)."""

    model_config = ConfigDict(extra="forbid")

    restricted: bool = Field(description="true: data kept but not used for marketing or "
                                         "personalisation; false lifts it.")


class CookieChoice(BaseModel):
    """`PUT /v1/cookies` (CNS-8): functional cookies are always on."""

    model_config = ConfigDict(extra="forbid")

    analytics: bool = Field(False, description="Analytics cookies.")
    marketing: bool = Field(False, description="Marketing and tracking cookies.")
    visitor_id: str | None = Field(None, pattern=VISITOR,
                                   description="The visitor id given before (anonymous).")


class CookieState(BaseModel):
    """Cookie categories in force."""

    functional: bool
    analytics: bool
    marketing: bool
    visitor_id: str | None = Field(description="Anonymous visitor id (none for a member).")


Purpose = Annotated[str, path_param("purpose", SLUG, "purpose", "Purpose slug.")]
Token = Annotated[str, path_param("token", UNSUBSCRIBE_LINK, "unsubscribe link",
                                  "The token of the message's unsubscribe link.")]
SubjectId = Annotated[str, uuid_param("account_id", "member", "The member's account id.")]
AsOf = Annotated[datetime | None, Query(description="ISO-8601 instant with its time zone: "
                                                    "the state then and the entries up to it.")]


def _params(as_of: datetime | None) -> dict[str, Any] | None:
    return {"as_of": as_of.isoformat()} if as_of is not None else None


@router.get("/v1/consent-purposes")
async def purposes(ups: Ups) -> Response:
    """The purpose catalogue (legal basis, channels, Dutch and English text) and the privacy
    statement versions with their effective dates (CNS-1..3, CNS-6); needs no token."""
    return forward(await ups.call("consent", "GET", "/internal/catalogue"))


@router.get("/v1/me/consents", response_model=Consents, responses={401: ERR, 422: ERR})
async def my_consents(session: CurrentSession, ups: Ups, as_of: AsOf = None) -> Response:
    """The member's consents and preferences; with `as_of`, at that instant with its ledger."""
    return forward(await ups.call("consent", "GET", "/internal/consents",
                                  params=_params(as_of), headers=session.headers()))


@router.put("/v1/me/consents/{purpose}", response_model=PurposeState,
            responses={401: ERR, 404: ERR, 409: ERR})
async def decide(purpose: Purpose, body: Decision, session: CurrentSession,
                 ups: Ups) -> Response:
    """Grant or withdraw consent; on a legitimate-interest purpose `false` objects (PRV-4)."""
    resp = await ups.call("consent", "PUT", internal_path("/internal/consents/{purpose}",
                                                              purpose=purpose),
                          json=body.model_dump(), headers=session.headers())
    if resp.status_code == 200:
        CONSENT_DECISIONS.labels("granted" if body.granted else "withdrawn").inc()
    return forward(resp)


@router.put("/v1/me/preferences", responses={401: ERR, 422: ERR})
async def preferences(body: Preferences, session: CurrentSession, ups: Ups) -> Response:
    """Communication preferences per channel and kind (CNS-1)."""
    return forward(await ups.call("consent", "PUT", "/internal/preferences",
                                  json=body.model_dump(), headers=session.headers()))


@router.put("/v1/me/restriction", responses={401: ERR})
async def restriction(body: Restriction, session: CurrentSession, ups: Ups) -> Response:
    """Restrict processing of your data, or lift it (PRV-6)."""
    return forward(await ups.call("consent", "PUT", "/internal/restriction",
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/cookies", response_model=CookieState, responses={422: ERR})
async def cookies(session: OptionalSession, ups: Ups,
                  visitor_id: Annotated[str | None, Query(pattern=VISITOR)] = None) -> Response:
    """Cookie choices of the member, or of an anonymous visitor."""
    return forward(await ups.call(
        "consent", "GET", "/internal/cookies",
        params={"visitor_id": visitor_id} if visitor_id else None,
        headers=session.headers() if session else None))


@router.put("/v1/cookies", response_model=CookieState, responses={422: ERR, 429: ERR})
async def set_cookies(body: CookieChoice, request: Request, session: OptionalSession,
                      ups: Ups) -> Response:
    """Record cookie choices; a visitor without a session gets a random `visitor_id`.

    Limited per client address (429 with `Retry-After`): each visitor's choice is a
    ledger of its own, kept."""
    headers = session.headers() if session else {}
    headers["X-Client-Address"] = client_address(request)
    return forward(await ups.call("consent", "PUT", "/internal/cookies",
                                  json=body.model_dump(), headers=headers))


@router.post("/v1/unsubscribe/{token}", responses={404: ERR})
async def unsubscribe(token: Token, ups: Ups) -> Response:
    """One-click unsubscribe from the message's purpose; no log-in; idempotent (CNS-4)."""
    return forward(await ups.call("consent", "POST",
                                  internal_path("/internal/unsubscribe/{token}", token=token)))


@router.get("/v1/staff/members/{account_id}/consents", responses={401: ERR, 403: ERR})
async def staff_consents(
    account_id: SubjectId, session: CurrentSession, ups: Ups,
    purpose: Annotated[AccessPurpose, Query(description="Why you look.")],
    as_of: AsOf = None,
) -> Response:
    """A DPO reads a member's consent state at an instant and the ledger entries (CNS-5)."""
    params: dict[str, Any] = {"purpose": purpose, **(_params(as_of) or {})}
    return forward(await ups.call("consent", "GET",
                                  internal_path("/internal/staff/consents/{subject_id}",
                                                subject_id=account_id),
                                  params=params, headers=session.headers()))


@router.put("/v1/staff/members/{account_id}/restriction", responses={401: ERR, 403: ERR})
async def staff_restriction(account_id: SubjectId,
                            body: Restriction, session: CurrentSession, ups: Ups) -> Response:
    """A DPO restricts a member's processing, or lifts it (PRV-6)."""
    return forward(await ups.call("consent", "PUT",
                                  internal_path("/internal/staff/restriction/{subject_id}",
                                                subject_id=account_id),
                                  json=body.model_dump(), headers=session.headers()))
