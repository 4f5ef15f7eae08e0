"""Staff roles with least privilege, and the staff member who decides and records (SEC-2).

Pure: which role may do what, which member fields belong to which data category, and
the ``StaffMember`` aggregate that refuses what its roles do not allow and records every
grant, revocation and read of personal data as an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from accounts.domain.errors import AccountsError, InvalidChange, NotFound
from contracts.envelope import Event
from contracts.personal import DataCategory
from contracts.staff import StaffAccessedPersonalData, StaffRoleGranted, StaffRoleRevoked


class Role(StrEnum):
    """The staff roles (their names are the contract's ``StaffRole``)."""

    SUPPORT = "support"
    TRUST_AND_SAFETY = "trust_and_safety"
    DPO = "dpo"
    AUDITOR = "auditor"
    OPS = "ops"


class Permission(StrEnum):
    """One thing a role allows."""

    READ_IDENTITY = "read:identity"
    READ_CONTACT = "read:contact"
    READ_DEMOGRAPHICS = "read:optional_demographics"
    READ_DEVICE = "read:device"
    READ_SECURITY_LOGS = "read:security_logs"
    READ_ACCESS_LOG = "read:access_log"
    MANAGE_ROLES = "manage:roles"
    HANDLE_PRIVACY_REQUESTS = "handle:privacy_requests"
    VIEW_OPERATIONS = "view:operations"


READS: Mapping[DataCategory, Permission] = {
    DataCategory.IDENTITY: Permission.READ_IDENTITY,
    DataCategory.CONTACT: Permission.READ_CONTACT,
    DataCategory.DEMOGRAPHICS: Permission.READ_DEMOGRAPHICS,
    DataCategory.DEVICE: Permission.READ_DEVICE,
    DataCategory.SECURITY: Permission.READ_SECURITY_LOGS,
}
"""The permission that lets a role see each category of a member's account data."""

P = Permission
PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.SUPPORT: frozenset({P.READ_IDENTITY, P.READ_CONTACT}),
    Role.TRUST_AND_SAFETY: frozenset({P.READ_IDENTITY, P.READ_CONTACT, P.READ_SECURITY_LOGS}),
    Role.DPO: frozenset({*READS.values(), P.READ_ACCESS_LOG, P.MANAGE_ROLES,
                         P.HANDLE_PRIVACY_REQUESTS}),
    Role.AUDITOR: frozenset({P.READ_ACCESS_LOG}),
    Role.OPS: frozenset({P.VIEW_OPERATIONS}),
}
"""Least privilege: auditors see the access log only, ops only dashboards; no personal data."""

METADATA_FIELDS: tuple[str, ...] = ("account_id", "kind", "status", "terms_version", "pseudonym")
"""Shown with every permitted read; none of them is personal data."""

CATEGORY_FIELDS: Mapping[DataCategory, tuple[str, ...]] = {
    DataCategory.IDENTITY: ("name", "username", "show_real_name", "identity_verification",
                            "social_identities"),
    DataCategory.CONTACT: ("email", "phone", "address"),
    DataCategory.DEMOGRAPHICS: ("date_of_birth", "gender", "interests"),
    DataCategory.DEVICE: ("devices",),
    DataCategory.SECURITY: ("sessions", "security_events"),
}
"""The member fields a staff read shows, by data category (never the password hash)."""


class StaffRefusal(AccountsError):
    """Base of the refusals of staff commands."""


class Forbidden(StaffRefusal):
    """The caller's roles do not allow this (SEC-2)."""

    code = "forbidden"


class LastDpo(StaffRefusal):
    """Revoking this role would leave nobody able to grant roles."""

    code = "last_dpo"


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Everything a set of roles allows together."""
    return frozenset(p for role in roles for p in PERMISSIONS[role])


def readable(role: Role) -> frozenset[DataCategory]:
    """The categories of a member's data that ``role`` may see."""
    return frozenset(c for c, p in READS.items() if p in PERMISSIONS[role])


def fields_of(categories: Iterable[DataCategory]) -> list[str]:
    """The names of the fields of ``categories``, sorted."""
    return sorted(name for c in categories for name in CATEGORY_FIELDS[c])


@dataclass(frozen=True)
class Read:
    """A permitted read: the role it is made under and what it shows."""

    access_id: str
    role: Role
    categories: frozenset[DataCategory]

    @property
    def fields(self) -> list[str]:
        """Names of the member fields shown."""
        return fields_of(self.categories)


def choose_role(roles: Iterable[Role], wanted: frozenset[DataCategory] | None) -> Role:
    """The role a read is made under: one role must cover it all, the narrowest that does.

    Without ``wanted``, the role that sees the most. Roles are never combined, so every
    read is justified by a single role.
    """
    able = [r for r in Role if r in set(roles) and readable(r)]
    if not able:
        raise Forbidden("your roles do not allow reading members' personal data")
    if wanted is None:
        return max(able, key=lambda r: len(readable(r)))
    covering = [r for r in able if wanted <= readable(r)]
    if not covering:
        denied = wanted - frozenset(c for r in able for c in readable(r))
        named = ", ".join(sorted(denied)) if denied else "those categories under one role"
        raise Forbidden(f"your roles do not allow reading: {named}")
    return min(covering, key=lambda r: len(readable(r)))


@dataclass
class StaffMember:
    """An account's staff roles, stream ``staff-<account_id>``."""

    account_id: str
    roles: set[Role] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)

    @property
    def permissions(self) -> frozenset[Permission]:
        """What this staff member may do."""
        return permissions_of(self.roles)

    def require(self, permission: Permission) -> None:
        """Raise ``Forbidden`` unless one of the roles allows ``permission``."""
        if permission not in self.permissions:
            raise Forbidden("your roles do not allow this")

    def grant(self, role: Role, by: str | None) -> bool:
        """Give ``role``; ``False`` (and no event) when it is already held."""
        if role in self.roles:
            return False
        self.roles.add(role)
        self.events.append(StaffRoleGranted(account_id=self.account_id, role=role.value,
                                            granted_by=by))
        return True

    def revoke(self, role: Role, by: str | None, dpos: int) -> None:
        """Take ``role`` away; ``dpos`` counts the accounts holding the DPO role now."""
        if role not in self.roles:
            raise NotFound("the account does not hold that role")
        if role is Role.DPO and dpos <= 1:
            raise LastDpo("the last DPO cannot be revoked; grant the role to another first")
        self.roles.discard(role)
        self.events.append(StaffRoleRevoked(account_id=self.account_id, role=role.value,
                                            revoked_by=by))

    def read(
        self, access_id: str, subject_id: str, wanted: frozenset[DataCategory] | None,
        purpose: str, reference: str | None,
    ) -> Read:
        """Decide a read of ``subject_id``'s data and record it (names, never values)."""
        if wanted is not None and not wanted:
            raise InvalidChange("ask for at least one data category")
        role = choose_role(self.roles, wanted)
        read = Read(access_id, role, wanted if wanted is not None else readable(role))
        self.events.append(StaffAccessedPersonalData(
            access_id=access_id, staff_account_id=self.account_id, role=role.value,
            subject_id=subject_id, purpose=purpose, reference=reference,
            categories=sorted(c.value for c in read.categories), fields=read.fields,
        ))
        return read
