"""Staff routes (SEC-2): roles, member reads for a stated purpose, the staff access log.

The gateway only authenticates; the accounts service holds the roles and decides what
each staff member may see, and logs every read of personal data as an event.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contracts.personal import DataCategory
from contracts.staff import REFERENCE_PATTERN, AccessPurpose, StaffRole
from gateway.deps import CurrentSession, Ups, forward, internal_path, path_param, uuid_param

router = APIRouter(tags=["staff"])

ERR = {"description": "Error: `{error: {code, message}}`."}
FORBIDDEN = {"description": "`forbidden`: your staff roles do not allow it."}


AccountId = Annotated[str, uuid_param("account_id", "account", "The account.")]
Role = Annotated[str, path_param("role", "^(" + "|".join(get_args(StaffRole)) + ")$",
                                 "staff role", "support, trust_and_safety, dpo, auditor or ops.")]


class RoleGrant(BaseModel):
    """`POST /v1/staff/roles`: a DPO gives an account a staff role."""

    account_id: str = Field(min_length=1, max_length=100, description="Who gets the role.")
    role: StaffRole = Field(description="support, trust_and_safety, dpo, auditor or ops.")


class StaffRoles(BaseModel):
    """An account's staff roles and what they allow."""

    account_id: str = Field(description="The account.")
    roles: list[StaffRole] = Field(description="Roles held (empty for members).")
    permissions: list[str] = Field(description="What the roles allow, e.g. `read:contact`.")


class StaffView(BaseModel):
    """A member's data as the staff member's role may see it."""

    account_id: str = Field(description="The member read.")
    kind: str = Field(description="member or employer.")
    status: str = Field(description="active or closed.")
    terms_version: str = Field(description="Terms of Use accepted.")
    pseudonym: str = Field(description="Keyed pseudonym (ACC-9).")
    access_id: str = Field(description="This read's entry in the staff access log.")
    role: StaffRole = Field(description="The role the read was made under.")
    purpose: AccessPurpose = Field(description="The purpose given.")
    categories: list[str] = Field(description="Data categories shown.")
    data: dict[str, Any] = Field(description="The fields of those categories.")


class AccessLogEntry(BaseModel):
    """One staff read of personal data: who, whose, why and which fields, never values."""

    access_id: str
    staff_account_id: str
    role: StaffRole
    subject_id: str
    purpose: AccessPurpose
    reference: str | None
    categories: list[str]
    fields: list[str]
    accessed_at: str


class AccessLog(BaseModel):
    """Staff reads, newest first."""

    items: list[AccessLogEntry]


@router.get("/v1/staff/me", response_model=StaffRoles, responses={401: ERR})
async def my_roles(session: CurrentSession, ups: Ups) -> Response:
    """The caller's staff roles and permissions."""
    return forward(await ups.call("accounts", "GET", "/internal/staff/me",
                                  headers=session.headers()))


@router.get("/v1/staff/roles", responses={401: ERR, 403: FORBIDDEN})
async def list_roles(session: CurrentSession, ups: Ups) -> Response:
    """Every staff role held: `{items: [{account_id, role, granted_by, granted_at}]}`."""
    return forward(await ups.call("accounts", "GET", "/internal/staff/roles",
                                  headers=session.headers()))


@router.post("/v1/staff/roles", status_code=201, response_model=StaffRoles,
             responses={200: {"description": "Already held."}, 401: ERR, 403: FORBIDDEN,
                        404: ERR, 409: ERR})
async def grant_role(body: RoleGrant, session: CurrentSession, ups: Ups) -> Response:
    """A DPO grants a staff role (step-up required: 403 `reauth_required`)."""
    return forward(await ups.call("accounts", "POST", "/internal/staff/roles",
                                  json=body.model_dump(), headers=session.headers()))


@router.delete("/v1/staff/roles/{account_id}/{role}", status_code=204,
               responses={401: ERR, 403: FORBIDDEN, 404: ERR,
                          409: {"description": "`last_dpo`: the last DPO stays."}})
async def revoke_role(account_id: AccountId, role: Role, session: CurrentSession,
                      ups: Ups) -> Response:
    """A DPO revokes a staff role (step-up required)."""
    path = internal_path("/internal/staff/roles/{account_id}/{role}",
                         account_id=account_id, role=role)
    return forward(await ups.call("accounts", "DELETE", path, headers=session.headers()))


@router.get("/v1/staff/accounts/{account_id}", response_model=StaffView,
            responses={401: ERR, 403: FORBIDDEN, 404: ERR})
async def read_member(
    account_id: AccountId, session: CurrentSession, ups: Ups,
    purpose: Annotated[AccessPurpose, Query(description="Why you look (required).")],
    reference: Annotated[str | None, Query(pattern=REFERENCE_PATTERN,
                                           description="Ticket or case reference.")] = None,
    categories: Annotated[list[DataCategory] | None, Query(
        description="Only these categories (default: all your role may see).")] = None,
) -> Response:
    """A member's data filtered to your role; every read is logged (SEC-2)."""
    params: dict[str, Any] = {"purpose": purpose, "reference": reference}
    if categories:
        params["categories"] = ",".join(c.value for c in categories)
    path = internal_path("/internal/staff/accounts/{account_id}", account_id=account_id)
    return forward(await ups.call("accounts", "GET", path, params=params,
                                  headers=session.headers()))


@router.get("/v1/staff/access-log", response_model=AccessLog,
            responses={401: ERR, 403: FORBIDDEN})
async def access_log(
    session: CurrentSession, ups: Ups,
    subject_id: Annotated[str | None, Query(max_length=100,
                                            description="Reads of this member.")] = None,
    staff_account_id: Annotated[str | None, Query(max_length=100,
                                                  description="Reads by this staff member.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Staff reads of personal data, newest first, no personal values (DPOs, auditors)."""
    return forward(await ups.call(
        "accounts", "GET", "/internal/staff/access-log",
        params={"subject_id": subject_id, "staff_account_id": staff_account_id, "limit": limit},
        headers=session.headers(),
    ))
