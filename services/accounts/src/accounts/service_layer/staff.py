"""Handlers of staff commands (SEC-2): grant and revoke roles, read a member, the access log.

Authorisation is decided here, by the staff member's roles, never by the gateway. Every
read of personal data records ``StaffAccessedPersonalData`` in the read's own transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import uuid4

from accounts.adapters.repository import Repository
from accounts.adapters.staff_repository import StaffRepository
from accounts.domain.errors import AccountNotActive, NotFound
from accounts.domain.model import Account
from accounts.domain.staff import (
    METADATA_FIELDS,
    Permission,
    Read,
    Role,
)
from accounts.service_layer.context import Context
from accounts.service_layer.handlers import own_session
from contracts.personal import DataCategory
from kernel.eventstore import ConcurrencyError
from kernel.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
ATTEMPTS = 3
"""A staff stream is written by one person at a time; a lost race is simply retried."""


@dataclass(frozen=True)
class GrantRole:
    """Give ``account_id`` a staff role; ``by`` is the DPO (``None``: command-line bootstrap)."""

    account_id: str
    role: Role
    by: str | None
    session_id: str | None = None


@dataclass(frozen=True)
class RevokeRole:
    """Take a staff role away; ``by`` is the DPO (``None``: command line)."""

    account_id: str
    role: Role
    by: str | None
    session_id: str | None = None


@dataclass(frozen=True)
class ReadMemberData:
    """A staff member looks at a member's account data, for a stated purpose."""

    staff_account_id: str
    subject_id: str
    purpose: str
    reference: str | None = None
    categories: frozenset[DataCategory] | None = None


@asynccontextmanager
async def _unit(ctx: Context) -> AsyncIterator[tuple[Repository, StaffRepository]]:
    async with ctx.transaction() as repo:
        yield repo, StaffRepository(repo.conn, ctx.store, ctx.keys)


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    for left in range(ATTEMPTS - 1, -1, -1):
        try:
            return await attempt()
        except ConcurrencyError:
            if not left:
                raise
    raise AssertionError("unreachable")


async def _authorised(ctx: Context, staff: StaffRepository, by: str | None,
                      session_id: str | None) -> None:
    """A DPO in a step-up window (ACC-4), unless the command comes from the command line."""
    if by is None:
        return
    (await staff.get(by)).require(Permission.MANAGE_ROLES)
    session = await own_session(ctx, session_id or "", by)
    session.require_step_up(ctx.clock())


async def grant_role(cmd: GrantRole, ctx: Context) -> bool:
    """Grant a role to an active account; ``False`` when it already held it."""
    async def attempt() -> bool:
        async with _unit(ctx) as (_, staff):
            await _authorised(ctx, staff, cmd.by, cmd.session_id)
            status = await staff.account_status(cmd.account_id)
            if status is None:
                raise NotFound("no such account")
            if status != "active":
                raise AccountNotActive("the account is closed")
            member = await staff.get(cmd.account_id)
            granted = member.grant(cmd.role, cmd.by)
            await staff.save(member)
            return granted

    granted = await _retrying(attempt)
    log.info("accounts.staff_role_granted", account_id=cmd.account_id, role=cmd.role.value,
             by=cmd.by, changed=granted)
    return granted


async def grant_role_by_email(email: str, role: Role, ctx: Context) -> str:
    """The command-line bootstrap (first DPO): grant ``role`` to the account of ``email``."""
    async with ctx.reading() as repo:
        staff = StaffRepository(repo.conn, ctx.store, ctx.keys)
        account_id = await staff.account_id_by_email_index(ctx.index.email(email))
    if account_id is None:
        raise NotFound("no active account with that e-mail address")
    await grant_role(GrantRole(account_id, role, None), ctx)
    return account_id


async def revoke_role(cmd: RevokeRole, ctx: Context) -> None:
    """Revoke a role; the last DPO stays."""
    async def attempt() -> None:
        async with _unit(ctx) as (_, staff):
            await _authorised(ctx, staff, cmd.by, cmd.session_id)
            member = await staff.get(cmd.account_id)
            dpos = await staff.dpo_count() if cmd.role is Role.DPO else 0
            member.revoke(cmd.role, cmd.by, dpos)
            await staff.save(member)

    await _retrying(attempt)
    log.info("accounts.staff_role_revoked", account_id=cmd.account_id, role=cmd.role.value,
             by=cmd.by)


async def whoami(account_id: str, ctx: Context) -> dict[str, Any]:
    """The caller's roles and permissions (empty for members)."""
    async with ctx.reading() as repo:
        member = await StaffRepository(repo.conn, ctx.store, ctx.keys).get(account_id)
    return {"account_id": account_id, "roles": sorted(member.roles),
            "permissions": sorted(member.permissions)}


async def list_grants(account_id: str, ctx: Context) -> list[dict[str, Any]]:
    """Every role held by anyone; for DPOs and auditors."""
    async with ctx.reading() as repo:
        staff = StaffRepository(repo.conn, ctx.store, ctx.keys)
        caller = await staff.get(account_id)
        if Permission.MANAGE_ROLES not in caller.permissions:
            caller.require(Permission.READ_ACCESS_LOG)
        return await staff.grants()


async def access_log(
    account_id: str, ctx: Context, subject_id: str | None = None,
    staff_account_id: str | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """The staff access log (ids, purposes, field names; no values); DPOs and auditors."""
    async with ctx.reading() as repo:
        staff = StaffRepository(repo.conn, ctx.store, ctx.keys)
        (await staff.get(account_id)).require(Permission.READ_ACCESS_LOG)
        return await staff.access_log(subject_id, staff_account_id, limit)


async def read_member(cmd: ReadMemberData, ctx: Context) -> dict[str, Any]:
    """A member's data as the staff member's role may see it; the read is logged.

    Refused (``Forbidden``) before the member is even looked up; an unknown or erased
    member is ``NotFound``. The event and the access-log row commit with the read.
    """
    async def attempt() -> dict[str, Any]:
        async with _unit(ctx) as (repo, staff):
            member = await staff.get(cmd.staff_account_id)
            access_id = str(uuid4())
            read = member.read(access_id, cmd.subject_id, cmd.categories, cmd.purpose,
                               cmd.reference)
            account = await repo.get(cmd.subject_id)
            if account is None:
                raise NotFound("no such account")
            data = await _shown(repo, staff, account, read)
            await staff.save(member)
        view = {name: getattr(account, name) for name in METADATA_FIELDS}
        return {**view, "access_id": access_id, "role": read.role.value,
                "purpose": cmd.purpose, "categories": sorted(read.categories), "data": data}

    view = await _retrying(attempt)
    log.info("accounts.staff_read", staff_account_id=cmd.staff_account_id,
             subject_id=cmd.subject_id, role=view["role"], purpose=cmd.purpose,
             access_id=view["access_id"])
    return view


async def _shown(repo: Repository, staff: StaffRepository, account: Account,
                 read: Read) -> dict[str, Any]:
    """Load exactly the fields of the read's categories (nothing else is decrypted)."""
    p = account.profile
    cats = read.categories
    data: dict[str, Any] = {}
    if DataCategory.IDENTITY in cats:
        data.update(name=p.name, username=p.username, show_real_name=p.show_real_name,
                    identity_verification=p.verification or {"status": "none"},
                    social_identities=await repo.social_links(account.account_id))
    if DataCategory.CONTACT in cats:
        data.update(email=p.email, phone=p.phone, address=p.address)
    if DataCategory.DEMOGRAPHICS in cats:
        data.update(date_of_birth=p.date_of_birth, gender=p.gender, interests=p.interests)
    if DataCategory.DEVICE in cats:
        data["devices"] = await repo.devices(account.account_id)
    if DataCategory.SECURITY in cats:
        data["sessions"] = await staff.sessions(account.account_id)
        data["security_events"] = await staff.security_events(account.account_id)
    if sorted(data) != read.fields:
        raise RuntimeError("the staff view and its access record disagree")
    return data
