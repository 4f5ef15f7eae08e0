"""The internal HTTP API (loopback only; the gateway is its one client): parse, call, answer.

A route under ``/internal/accounts/{account_id}`` serves that member's own data only to a
call signed for that member (``X-Account-Id``, :mod:`kernel.caller`); anything else is a
404. Only ``/public`` answers for any account, with the public fields alone (issue 26).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from accounts.domain import commands
from accounts.domain.errors import AccountsError, TooManyAttempts
from accounts.domain.model import Account
from accounts.service_layer import handlers, member_data
from accounts.service_layer.context import Context
from kernel.caller import OwnAccount
from kernel.http import ApiError, error_response

router = APIRouter(prefix="/internal", tags=["accounts"])

STATUS = {
    "too_young": 422, "terms_version": 422, "invalid": 422, "email_taken": 409,
    "username_taken": 409, "invalid_credentials": 401, "too_many_attempts": 429,
    "unauthenticated": 401, "reauth_required": 403, "not_found": 404, "account_closed": 409,
    "account_locked": 403,
}


def domain_error(_: Request, exc: Exception) -> JSONResponse:
    """A domain refusal as the API's JSON error (no personal data in the message)."""
    assert isinstance(exc, AccountsError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    return error_response(STATUS.get(exc.code, 422), exc.code, exc.message, headers)


async def context(request: Request) -> Context:
    """The handlers' context, once the service has started."""
    runtime = getattr(request.app.state, "runtime", None)
    ctx = runtime.extra.get("ctx") if runtime is not None else None
    if ctx is None:
        raise ApiError(503, "unavailable", "the accounts service is starting", {"Retry-After": "1"})
    return ctx  # type: ignore[no-any-return]


Ctx = Annotated[Context, Depends(context)]
SessionId = Annotated[str, Header(alias="X-Session-Id")]
ClientAddress = Annotated[str | None, Header(alias="X-Client-Address",
                                             description="The client, as the gateway saw it.")]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account_view(account: Account) -> dict[str, Any]:
    """The member's own data as answered by ``GET /internal/accounts/{id}``."""
    data = account.profile.as_dict()
    verification = data.pop("verification") or {"status": "none"}
    return {
        "account_id": account.account_id, "kind": account.kind, "status": account.status,
        **data, "identity_verification": verification, "terms_version": account.terms_version,
        "public_name": account.public_name, "pseudonym": account.pseudonym,
    }


class SignUpBody(BaseModel):
    """Sign-up, already validated by the gateway."""

    kind: str = "member"
    email: str
    password: str
    name: str
    username: str
    phone: str | None = None
    address: dict[str, Any] | None = None
    date_of_birth: str | None = None
    gender: str | None = None
    interests: list[str] | None = None
    accept_terms_version: str


class LogInBody(BaseModel):
    """Log-in."""

    email: str
    password: str
    remember_me: bool = False


class TokenBody(BaseModel):
    """A bearer token to introspect."""

    token: str


class PasswordBody(BaseModel):
    """A password confirmation."""

    password: str


class DeviceBody(BaseModel):
    """A device to register (ACC-5)."""

    device_id: str
    device_type: str
    push_token: str


class SocialBody(BaseModel):
    """A social identity to link (ACC-6)."""

    provider: str
    provider_subject: str
    granted_scopes: list[str] = Field(default_factory=list)
    profile: dict[str, str] = Field(default_factory=dict)


class VerificationBody(BaseModel):
    """An identity-verification status (ACC-7)."""

    status: str = "pending"
    method: str
    evidence_ref: str | None = None


class MisuseBody(BaseModel):
    """A misuse report (ACC-11)."""

    note: str | None = None


@router.get("/terms")
async def terms(ctx: Ctx) -> dict[str, str]:
    """The Terms of Use in force."""
    return {"version": ctx.terms.version, "effective_from": ctx.terms.effective_from.isoformat()}


@router.post("/accounts", status_code=201)
async def sign_up(body: SignUpBody, ctx: Ctx, client_address: ClientAddress = None
                  ) -> dict[str, str]:
    """Sign up (ACC-1, ACC-3); limited per client address (issue 26)."""
    account_id = await handlers.sign_up(
        commands.SignUp(**body.model_dump(), client_address=client_address), ctx)
    return {"account_id": account_id}


@router.post("/sessions", status_code=201)
async def log_in(body: LogInBody, ctx: Ctx, client_address: ClientAddress = None
                 ) -> dict[str, Any]:
    """Log in (ACC-4)."""
    token, session = await handlers.log_in(
        commands.LogIn(body.email, body.password, body.remember_me, client_address), ctx
    )
    return {"token": token, "expires_at": _iso(session.expires_at),
            "session_id": session.session_id}


@router.post("/sessions/introspect")
async def introspect(body: TokenBody, ctx: Ctx) -> dict[str, Any]:
    """The session behind a token (called by the gateway on every authenticated request)."""
    row = await handlers.introspect(body.token, ctx)
    return {**row, "expires_at": _iso(row["expires_at"]),
            "step_up_until": _iso(row["step_up_until"])}


@router.post("/me")
async def me_by_token(body: TokenBody, ctx: Ctx) -> dict[str, Any]:
    """The member's own data for a bearer token: authentication and read in one call.

    ``GET /v1/me`` is the hottest authenticated route; one hop instead of two halves its
    cost at the gateway (TARGETS.md: p99 <= 20 ms with 8 concurrent clients).
    """
    return account_view(await handlers.own_account(body.token, ctx))


@router.delete("/sessions/{session_id}", status_code=204)
async def log_out(
    session_id: str, ctx: Ctx,
    account_id: Annotated[str | None, Header(alias="X-Account-Id")] = None,
) -> Response:
    """Log out: the token stops working at once."""
    await handlers.log_out(commands.LogOut(session_id, account_id), ctx)
    return Response(status_code=204)


@router.post("/sessions/{session_id}/reauth", status_code=204)
async def reauth(session_id: str, body: PasswordBody, ctx: Ctx,
                 client_address: ClientAddress = None) -> Response:
    """Confirm the password: the step-up window opens (ACC-4); guesses throttled."""
    await handlers.reauthenticate(
        commands.Reauthenticate(session_id, body.password, client_address), ctx)
    return Response(status_code=204)


@router.get("/accounts/{account_id}")
async def get_account(account_id: OwnAccount, ctx: Ctx) -> dict[str, Any]:
    """The member's own data, decrypted (ACC-8)."""
    return account_view(await handlers.get_account(account_id, ctx))


@router.patch("/accounts/{account_id}")
async def rectify(
    account_id: OwnAccount, session_id: SessionId, ctx: Ctx,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Rectification inside the step-up window (ACC-4, ACC-8); ``null`` removes (ACC-2)."""
    changes = dict(body)
    password = changes.pop("password", None)
    account = await handlers.rectify(
        commands.Rectify(account_id, session_id, changes, password), ctx
    )
    return account_view(account)


@router.get("/accounts/{account_id}/public")
async def public_profile(account_id: str, ctx: Ctx) -> dict[str, Any]:
    """What anyone may see: username or pseudonym, the real name only if shown (ACC-10)."""
    return await member_data.public_profile(account_id, ctx)


@router.post("/accounts/{account_id}/devices", status_code=201)
async def register_device(account_id: OwnAccount, body: DeviceBody, ctx: Ctx) -> dict[str, Any]:
    """Register a device for push notifications (ACC-5)."""
    return await member_data.register_device(
        commands.RegisterDevice(account_id, **body.model_dump()), ctx
    )


@router.get("/accounts/{account_id}/devices")
async def list_devices(account_id: OwnAccount, ctx: Ctx) -> dict[str, Any]:
    """The member's devices."""
    return {"items": await member_data.list_devices(account_id, ctx)}


@router.delete("/accounts/{account_id}/devices/{registration_id}", status_code=204)
async def remove_device(account_id: OwnAccount, registration_id: str, ctx: Ctx) -> Response:
    """Delete a device registration."""
    await member_data.remove_device(commands.RemoveDevice(account_id, registration_id), ctx)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/social-identities", status_code=201)
async def link_social(account_id: OwnAccount, body: SocialBody, ctx: Ctx) -> dict[str, Any]:
    """Link a social identity with its granted scopes (ACC-6)."""
    return await member_data.link_social_identity(
        commands.LinkSocialIdentity(account_id, **body.model_dump()), ctx
    )


@router.get("/accounts/{account_id}/social-identities")
async def list_social(account_id: OwnAccount, ctx: Ctx) -> dict[str, Any]:
    """The member's social identity links."""
    return {"items": await member_data.list_social_identities(account_id, ctx)}


@router.delete("/accounts/{account_id}/social-identities/{link_id}", status_code=204)
async def unlink_social(account_id: OwnAccount, link_id: str, ctx: Ctx) -> Response:
    """Unlink a social identity."""
    await member_data.unlink_social_identity(
        commands.UnlinkSocialIdentity(account_id, link_id), ctx
    )
    return Response(status_code=204)


@router.get("/accounts/{account_id}/identity-verification")
async def get_verification(account_id: OwnAccount, ctx: Ctx) -> dict[str, Any]:
    """The identity-verification status (ACC-7)."""
    account = await handlers.get_account(account_id, ctx)
    return account.profile.verification or {"status": "none"}


@router.put("/accounts/{account_id}/identity-verification")
async def record_verification(account_id: OwnAccount, body: VerificationBody,
                              ctx: Ctx) -> dict[str, Any]:
    """Record a verification status: a member's submission or the verifier's outcome."""
    return await member_data.record_identity_verification(
        commands.RecordIdentityVerification(account_id, **body.model_dump()), ctx
    )


@router.post("/accounts/{account_id}/closure", status_code=204)
async def close(account_id: OwnAccount, session_id: SessionId, ctx: Ctx) -> Response:
    """Close the account inside the step-up window (ACC-9)."""
    await member_data.close_account(commands.CloseAccount(account_id, session_id), ctx)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/misuse-reports", status_code=202)
async def report_misuse(account_id: OwnAccount, body: MisuseBody, ctx: Ctx) -> dict[str, Any]:
    """Report misuse: every session is revoked (ACC-11)."""
    return await member_data.report_misuse(commands.ReportMisuse(account_id, body.note), ctx)
