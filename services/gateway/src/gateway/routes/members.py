"""Member routes: terms, sign-up, sessions, step-up, own data, devices, closure (ACC-*).

Bodies are validated here, at the edge; the accounts service decides everything else.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.client_address import client_address
from gateway.deps import (
    BearerToken,
    CurrentSession,
    Session,
    Ups,
    forward,
    internal_path,
    uuid_param,
)
from kernel.http import ApiError

router = APIRouter(tags=["members"])

EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
PHONE = r"^\+[1-9][0-9]{6,14}$"
USERNAME = r"^[A-Za-z0-9_.-]{3,40}$"
DOB = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

AccountId = Annotated[str, uuid_param("account_id", "member", "The member's account id.")]
DeviceId = Annotated[str, uuid_param("device_id", "device",
                                     "The registration's `id` from `GET /v1/me/devices`.")]
LinkId = Annotated[str, uuid_param("link_id", "social identity", "The link's `link_id`.")]

ERR = {"description": "Error: `{error: {code, message}}`."}


def _valid_date(value: str | None) -> str | None:
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("date_of_birth must be a real date, YYYY-MM-DD") from None
    return value


class Address(BaseModel):
    """A postal address."""

    model_config = ConfigDict(extra="forbid")

    street: str = Field(min_length=1, max_length=200, description="Street and number.")
    postcode: str = Field(min_length=1, max_length=20, description="Postal code.")
    city: str = Field(min_length=1, max_length=100, description="City.")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")


class SignUpRequest(BaseModel):
    """`POST /v1/accounts` (ACC-1, ACC-2, ACC-3)."""

    kind: Literal["member", "employer"] = Field("member", description="Account kind.")
    email: str = Field(pattern=EMAIL, max_length=254, description="E-mail address (unique).")
    password: str = Field(min_length=8, max_length=1024, description="At least 8 characters.")
    name: str = Field(min_length=1, max_length=200, description="Full name.")
    username: str = Field(pattern=USERNAME, description="Public username (ACC-10).")
    phone: str | None = Field(None, pattern=PHONE, description="Phone, e.g. +31612345678.")
    address: Address | None = Field(None, description="Postal address.")
    date_of_birth: str | None = Field(None, pattern=DOB, description="YYYY-MM-DD; optional.")
    gender: str | None = Field(None, max_length=50, description="Optional (ACC-2).")
    interests: list[str] | None = Field(None, max_length=50, description="Optional (ACC-2).")
    accept_terms_version: str = Field(max_length=40, description="Terms version accepted.")

    _dob = field_validator("date_of_birth")(_valid_date)


class LogInRequest(BaseModel):
    """`POST /v1/sessions` (ACC-4)."""

    email: str = Field(max_length=254, description="E-mail address.")
    password: str = Field(max_length=1024, description="Password.")
    remember_me: bool = Field(False, description="Stay logged in (30 days) or not (12 hours).")


class ReauthRequest(BaseModel):
    """`POST /v1/sessions/current/reauth`."""

    password: str = Field(max_length=1024, description="The account's password.")


REQUIRED = ("email", "name", "username", "password", "show_real_name")


class MeUpdate(BaseModel):
    """`PATCH /v1/me`: only the fields sent change; `null` removes an optional one (ACC-2)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, pattern=EMAIL, max_length=254)
    password: str | None = Field(None, min_length=8, max_length=1024)
    name: str | None = Field(None, min_length=1, max_length=200)
    username: str | None = Field(None, pattern=USERNAME)
    phone: str | None = Field(None, pattern=PHONE)
    address: Address | None = None
    date_of_birth: str | None = Field(None, pattern=DOB)
    gender: str | None = Field(None, max_length=50)
    interests: list[str] | None = Field(None, max_length=50)
    show_real_name: bool | None = Field(None, description="Show the real name publicly.")

    _dob = field_validator("date_of_birth")(_valid_date)

    def changes(self) -> dict[str, Any]:
        """The fields sent; refuses ``null`` for a field that cannot be removed."""
        sent = self.model_dump(exclude_unset=True, mode="json")
        nulled = [name for name in REQUIRED if name in sent and sent[name] is None]
        if nulled:
            raise ApiError(422, "invalid", f"cannot remove: {', '.join(nulled)}")
        return sent


class DeviceRequest(BaseModel):
    """`POST /v1/me/devices` (ACC-5)."""

    device_id: str = Field(min_length=1, max_length=200, description="The device's identifier.")
    device_type: Literal["ios", "android", "web"] = Field(description="Platform.")
    push_token: str = Field(min_length=1, max_length=4096, description="Push token.")


class SocialIdentityRequest(BaseModel):
    """`POST /v1/me/social-identities` (ACC-6): only granted scopes are imported."""

    provider: Literal["google", "apple", "facebook", "linkedin"] = Field(description="Provider.")
    provider_subject: str = Field(min_length=1, max_length=200, description="Id at provider.")
    granted_scopes: list[Literal["openid", "email", "profile"]] = Field(
        default_factory=list, description="Scopes the member granted."
    )
    profile: dict[str, str] = Field(
        default_factory=dict, description="What the provider offered (name, email)."
    )


class VerificationRequest(BaseModel):
    """`POST /v1/me/identity-verification` (ACC-7): starts as pending."""

    method: str = Field(min_length=1, max_length=50, description="e.g. idin, id_document.")
    evidence_ref: str | None = Field(None, max_length=200, description="Verifier's reference.")


class MisuseRequest(BaseModel):
    """`POST /v1/me/misuse-report` (ACC-11)."""

    note: str | None = Field(None, max_length=2000, description="What happened (optional).")


def _me(session: Session, suffix: str = "", **segments: str) -> str:
    return internal_path("/internal/accounts/{account_id}" + suffix,
                         account_id=session.account_id, **segments)


def _require_step_up(session: Session) -> None:
    if not session.stepped_up():
        raise ApiError(403, "reauth_required",
                       "confirm your password first: POST /v1/sessions/current/reauth")


@router.get("/v1/terms")
async def get_terms(ups: Ups) -> Response:
    """The current Terms of Use: `{version, effective_from}`."""
    return forward(await ups.call("accounts", "GET", "/internal/terms"))


@router.post("/v1/accounts", status_code=201,
             responses={409: ERR, 422: {"description": "Invalid, under 16, or old terms."},
                        429: ERR})
async def sign_up(body: SignUpRequest, request: Request, ups: Ups) -> Response:
    """Sign up → `{account_id}`; limited per client address (429 with `Retry-After`)."""
    return forward(await ups.call("accounts", "POST", "/internal/accounts",
                                  json=body.model_dump(mode="json"),
                                  headers={"X-Client-Address": client_address(request)}))


@router.post("/v1/sessions", status_code=201, responses={401: ERR, 429: ERR})
async def log_in(body: LogInRequest, request: Request, ups: Ups) -> Response:
    """Log in → `{token, expires_at}`; the token is a bearer token."""
    resp = await ups.call("accounts", "POST", "/internal/sessions", json=body.model_dump(),
                          headers={"X-Client-Address": client_address(request)})
    if resp.status_code != 201:
        return forward(resp)
    data = resp.json()
    return JSONResponse({"token": data["token"], "expires_at": data["expires_at"]},
                        status_code=201)


@router.delete("/v1/sessions/current", status_code=204, responses={401: ERR})
async def log_out(session: CurrentSession, ups: Ups) -> Response:
    """Log out: the token stops working at once."""
    path = internal_path("/internal/sessions/{session_id}", session_id=session.session_id)
    return forward(await ups.call("accounts", "DELETE", path,
                                  headers=session.headers()))


@router.post("/v1/sessions/current/reauth", status_code=204, responses={401: ERR, 429: ERR})
async def reauth(body: ReauthRequest, request: Request, session: CurrentSession, ups: Ups
                 ) -> Response:
    """Confirm the password: the step-up window opens for 10 minutes."""
    return forward(await ups.call(
        "accounts", "POST",
        internal_path("/internal/sessions/{session_id}/reauth", session_id=session.session_id),
        json=body.model_dump(),
        headers={**session.headers(), "X-Client-Address": client_address(request)},
    ))


@router.get("/v1/me", responses={401: ERR})
async def get_me(token: BearerToken, ups: Ups) -> Response:
    """The member's own account data."""
    if token is None:
        raise ApiError(401, "unauthenticated", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    resp = await ups.call("accounts", "POST", "/internal/me", json={"token": token})
    if resp.status_code == 401:
        raise ApiError(401, "unauthenticated", "the token is invalid or has ended",
                       {"WWW-Authenticate": "Bearer"})
    return forward(resp)


@router.patch("/v1/me", responses={401: ERR, 403: ERR, 409: ERR})
async def patch_me(body: MeUpdate, session: CurrentSession, ups: Ups) -> Response:
    """Partial update (rectification, ACC-8) → the updated data; step-up required."""
    _require_step_up(session)
    return forward(await ups.call("accounts", "PATCH", _me(session), json=body.changes(),
                                  headers=session.headers()))


@router.post("/v1/me/closure", status_code=204, responses={401: ERR, 403: ERR})
async def close_account(session: CurrentSession, ups: Ups) -> Response:
    """Close the account (ACC-9); step-up required."""
    _require_step_up(session)
    return forward(await ups.call("accounts", "POST", _me(session, "/closure"),
                                  headers=session.headers()))


@router.delete("/v1/me", status_code=204, responses={401: ERR, 403: ERR})
async def delete_me(session: CurrentSession, ups: Ups) -> Response:
    """Same as `POST /v1/me/closure`."""
    return await close_account(session, ups)


@router.post("/v1/me/misuse-report", status_code=202, responses={401: ERR})
async def report_misuse(body: MisuseRequest, session: CurrentSession, ups: Ups) -> Response:
    """'My account was misused': every session is revoked (ACC-11)."""
    return forward(await ups.call("accounts", "POST", _me(session, "/misuse-reports"),
                                  json=body.model_dump(), headers=session.headers()))


@router.post("/v1/me/devices", status_code=201, responses={401: ERR})
async def register_device(body: DeviceRequest, session: CurrentSession, ups: Ups) -> Response:
    """Register a device for push notifications (ACC-5)."""
    return forward(await ups.call("accounts", "POST", _me(session, "/devices"),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/me/devices", responses={401: ERR})
async def list_devices(session: CurrentSession, ups: Ups) -> Response:
    """The member's devices → `{items}`."""
    return forward(await ups.call("accounts", "GET", _me(session, "/devices"),
                                  headers=session.headers()))


@router.delete("/v1/me/devices/{device_id}", status_code=204, responses={401: ERR, 404: ERR})
async def remove_device(device_id: DeviceId, session: CurrentSession, ups: Ups) -> Response:
    """Delete a device registration."""
    return forward(await ups.call("accounts", "DELETE",
                                  _me(session, "/devices/{device_id}", device_id=device_id),
                                  headers=session.headers()))


@router.post("/v1/me/social-identities", status_code=201, responses={401: ERR, 422: ERR})
async def link_social(body: SocialIdentityRequest, session: CurrentSession, ups: Ups) -> Response:
    """Link a social identity; only the granted scopes are imported (ACC-6)."""
    return forward(await ups.call("accounts", "POST", _me(session, "/social-identities"),
                                  json=body.model_dump(), headers=session.headers()))


@router.get("/v1/me/social-identities", responses={401: ERR})
async def list_social(session: CurrentSession, ups: Ups) -> Response:
    """Linked social identities with their grants → `{items}`."""
    return forward(await ups.call("accounts", "GET", _me(session, "/social-identities"),
                                  headers=session.headers()))


@router.delete("/v1/me/social-identities/{link_id}", status_code=204,
               responses={401: ERR, 404: ERR})
async def unlink_social(link_id: LinkId, session: CurrentSession, ups: Ups) -> Response:
    """Unlink a social identity."""
    return forward(await ups.call(
        "accounts", "DELETE", _me(session, "/social-identities/{link_id}", link_id=link_id),
        headers=session.headers(),
    ))


@router.get("/v1/me/identity-verification", responses={401: ERR})
async def get_verification(session: CurrentSession, ups: Ups) -> Response:
    """Identity-verification status (ACC-7)."""
    return forward(await ups.call("accounts", "GET", _me(session, "/identity-verification"),
                                  headers=session.headers()))


@router.post("/v1/me/identity-verification", responses={401: ERR})
async def submit_verification(
    body: VerificationRequest, session: CurrentSession, ups: Ups
) -> Response:
    """Submit identity evidence; the status becomes `pending` until the verifier decides."""
    return forward(await ups.call(
        "accounts", "PUT", _me(session, "/identity-verification"),
        json={"status": "pending", **body.model_dump()}, headers=session.headers(),
    ))


@router.get("/v1/members/{account_id}", responses={404: ERR})
async def public_profile(account_id: AccountId, ups: Ups) -> Response:
    """A member's public profile: username (pseudonym once closed), real name if chosen."""
    return forward(await ups.call("accounts", "GET", internal_path(
        "/internal/accounts/{account_id}/public", account_id=account_id)))
