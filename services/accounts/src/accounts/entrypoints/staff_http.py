"""The internal staff API (SEC-2): roles, member reads for a purpose, the access log.

The gateway authenticates and passes ``X-Account-Id``/``X-Session-Id``; what the caller
may do is decided by the handlers from the caller's roles.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from accounts.domain.staff import Role, StaffRefusal
from accounts.entrypoints.http import Ctx, domain_error
from accounts.service_layer import staff
from accounts.service_layer.staff import GrantRole, ReadMemberData, RevokeRole
from contracts.personal import DataCategory
from contracts.staff import REFERENCE_PATTERN, AccessPurpose, StaffRole
from kernel.http import ApiError, error_response

router = APIRouter(prefix="/internal/staff", tags=["staff"])

STAFF_STATUS = {"forbidden": 403, "last_dpo": 409}


def staff_error(request: Request, exc: Exception) -> JSONResponse:
    """A staff refusal as the API's JSON error."""
    assert isinstance(exc, StaffRefusal)
    if exc.code not in STAFF_STATUS:
        return domain_error(request, exc)
    return error_response(STAFF_STATUS[exc.code], exc.code, exc.message)


def caller(x_account_id: Annotated[str | None, Header(alias="X-Account-Id")] = None) -> str:
    """The authenticated account the gateway vouches for; 401 without one."""
    if not x_account_id:
        raise ApiError(401, "unauthenticated", "no authenticated account")
    return x_account_id


Caller = Annotated[str, Depends(caller)]
SessionHeader = Annotated[str | None, Header(alias="X-Session-Id")]


class RoleGrantBody(BaseModel):
    """A role to grant."""

    account_id: str = Field(min_length=1, max_length=100, description="Who gets the role.")
    role: StaffRole = Field(description="The staff role.")


def _categories(raw: list[str] | None) -> frozenset[DataCategory] | None:
    if not raw:
        return None
    names = {part.strip() for item in raw for part in item.split(",") if part.strip()}
    try:
        return frozenset(DataCategory(n) for n in names)
    except ValueError:
        raise ApiError(422, "invalid", "unknown data category") from None


@router.get("/me")
async def whoami(account_id: Caller, ctx: Ctx) -> dict[str, Any]:
    """The caller's staff roles and permissions (empty for members)."""
    return await staff.whoami(account_id, ctx)


@router.get("/roles")
async def list_roles(account_id: Caller, ctx: Ctx) -> dict[str, Any]:
    """Every staff role held; DPOs and auditors."""
    return {"items": await staff.list_grants(account_id, ctx)}


@router.post("/roles", status_code=201)
async def grant(body: RoleGrantBody, account_id: Caller, ctx: Ctx,
                session_id: SessionHeader = None) -> Response:
    """A DPO grants a role (step-up required): 201 when new, 200 when already held."""
    changed = await staff.grant_role(
        GrantRole(body.account_id, Role(body.role), account_id, session_id), ctx
    )
    return JSONResponse(await staff.whoami(body.account_id, ctx),
                        status_code=201 if changed else 200)


@router.delete("/roles/{account_id}/{role}", status_code=204)
async def revoke(account_id: str, role: StaffRole, by: Caller, ctx: Ctx,
                 session_id: SessionHeader = None) -> Response:
    """A DPO revokes a role (step-up required); the last DPO stays."""
    await staff.revoke_role(RevokeRole(account_id, Role(role), by, session_id),
                            ctx)
    return Response(status_code=204)


@router.get("/accounts/{subject_id}")
async def read_member(
    subject_id: str, account_id: Caller, ctx: Ctx,
    purpose: Annotated[AccessPurpose, Query(description="Why you look.")],
    reference: Annotated[str | None, Query(pattern=REFERENCE_PATTERN)] = None,
    categories: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """A member's data filtered to the caller's role; the read is logged (SEC-2)."""
    return await staff.read_member(ReadMemberData(
        account_id, subject_id, purpose, reference, _categories(categories),
    ), ctx)


@router.get("/access-log")
async def access_log(
    account_id: Caller, ctx: Ctx,
    subject_id: Annotated[str | None, Query(max_length=100)] = None,
    staff_account_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Staff reads of personal data (no values); DPOs and auditors."""
    items = await staff.access_log(account_id, ctx, subject_id, staff_account_id, limit)
    return {"items": items}
