"""SEC-2 staff roles, pure: the least-privilege table and the StaffMember aggregate."""

from __future__ import annotations

import uuid
from typing import get_args

import pytest

from accounts.domain.errors import InvalidChange, NotFound
from accounts.domain.staff import (
    CATEGORY_FIELDS,
    METADATA_FIELDS,
    PERMISSIONS,
    Forbidden,
    LastDpo,
    Permission,
    Role,
    StaffMember,
    choose_role,
    fields_of,
    readable,
)
from contracts.accounts import AccountRegistered
from contracts.personal import DataCategory, personal_fields
from contracts.staff import (
    STAFF_ROLES,
    StaffAccessedPersonalData,
    StaffRole,
    StaffRoleGranted,
    StaffRoleRevoked,
)

pytestmark = pytest.mark.unit

C = DataCategory
P = Permission

EXPECTED_READS: dict[Role, set[DataCategory]] = {
    Role.SUPPORT: {C.IDENTITY, C.CONTACT},
    Role.TRUST_AND_SAFETY: {C.IDENTITY, C.CONTACT, C.SECURITY},
    Role.DPO: {C.IDENTITY, C.CONTACT, C.DEMOGRAPHICS, C.DEVICE, C.SECURITY},
    Role.AUDITOR: set(),
    Role.OPS: set(),
}
EXPECTED_OTHER: dict[Role, set[Permission]] = {
    Role.SUPPORT: set(),
    Role.TRUST_AND_SAFETY: set(),
    Role.DPO: {P.READ_ACCESS_LOG, P.MANAGE_ROLES, P.HANDLE_PRIVACY_REQUESTS},
    Role.AUDITOR: {P.READ_ACCESS_LOG},
    Role.OPS: {P.VIEW_OPERATIONS},
}
READABLE = list(C.__members__.values())


def staff(*roles: Role) -> StaffMember:
    """A staff member holding ``roles`` (no events recorded)."""
    return StaffMember(str(uuid.uuid4()), set(roles))


def test_sec_2_the_roles_are_exactly_the_contract_roles() -> None:
    assert [r.value for r in Role] == list(STAFF_ROLES) == list(get_args(StaffRole))
    assert set(PERMISSIONS) == set(Role)


@pytest.mark.parametrize("role", list(Role))
def test_sec_2_each_role_reads_exactly_its_categories(role: Role) -> None:
    assert readable(role) == EXPECTED_READS[role]


@pytest.mark.parametrize("role", list(Role))
def test_sec_2_each_role_has_exactly_its_permissions(role: Role) -> None:
    reads = {P(f"read:{c.value}") for c in EXPECTED_READS[role]}
    assert PERMISSIONS[role] == reads | EXPECTED_OTHER[role]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("category", list(CATEGORY_FIELDS))
def test_sec_2_a_role_reads_a_category_only_when_the_table_says_so(
    role: Role, category: DataCategory,
) -> None:
    member = staff(role)
    wanted = frozenset({category})
    if category in EXPECTED_READS[role]:
        read = member.read("a1", "subject", wanted, "support_request", None)
        assert read.role is role and read.categories == wanted
    else:
        with pytest.raises(Forbidden):
            member.read("a1", "subject", wanted, "support_request", None)
        assert member.events == []


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPS])
def test_sec_2_auditors_and_ops_read_no_personal_data_at_all(role: Role) -> None:
    with pytest.raises(Forbidden):
        staff(role).read("a1", "subject", None, "legal_obligation", None)
    with pytest.raises(Forbidden):
        choose_role({role}, None)


def test_sec_2_members_without_roles_are_forbidden_everything() -> None:
    nobody = staff()
    with pytest.raises(Forbidden):
        nobody.read("a1", "subject", None, "support_request", None)
    for permission in Permission:
        with pytest.raises(Forbidden):
            nobody.require(permission)


def test_sec_2_only_dpos_manage_roles_and_only_dpos_and_auditors_read_the_access_log() -> None:
    assert {r for r in Role if P.MANAGE_ROLES in PERMISSIONS[r]} == {Role.DPO}
    assert {r for r in Role if P.READ_ACCESS_LOG in PERMISSIONS[r]} == {Role.DPO, Role.AUDITOR}


def test_sec_2_a_read_records_one_event_with_field_names_never_values() -> None:
    member = staff(Role.SUPPORT)
    read = member.read("acc-1", "subj-1", None, "support_request", "TICKET-1")
    [event] = member.events
    assert isinstance(event, StaffAccessedPersonalData)
    assert (event.access_id, event.staff_account_id, event.subject_id) == (
        "acc-1", member.account_id, "subj-1")
    assert (event.role, event.purpose, event.reference) == ("support", "support_request",
                                                            "TICKET-1")
    assert event.categories == ["contact", "identity"]
    assert event.fields == read.fields == sorted(
        CATEGORY_FIELDS[C.IDENTITY] + CATEGORY_FIELDS[C.CONTACT])
    assert personal_fields(StaffAccessedPersonalData) == {}


def test_sec_2_a_read_without_categories_shows_everything_the_role_may() -> None:
    read = staff(Role.TRUST_AND_SAFETY).read("a", "s", None, "fraud_investigation", None)
    assert read.categories == EXPECTED_READS[Role.TRUST_AND_SAFETY]


def test_sec_2_an_empty_category_list_is_invalid() -> None:
    with pytest.raises(InvalidChange):
        staff(Role.DPO).read("a", "s", frozenset(), "privacy_request", None)


def test_sec_2_several_roles_are_never_combined_and_the_narrowest_role_is_used() -> None:
    both = staff(Role.SUPPORT, Role.TRUST_AND_SAFETY, Role.AUDITOR)
    assert choose_role(both.roles, frozenset({C.CONTACT})) is Role.SUPPORT
    assert choose_role(both.roles, frozenset({C.SECURITY})) is Role.TRUST_AND_SAFETY
    assert choose_role(both.roles, None) is Role.TRUST_AND_SAFETY
    with pytest.raises(Forbidden, match="optional_demographics"):
        choose_role(both.roles, frozenset({C.CONTACT, C.DEMOGRAPHICS}))


def test_sec_2_no_staff_view_shows_the_password_hash_or_unknown_fields() -> None:
    every = fields_of(CATEGORY_FIELDS)
    assert len(every) == len(set(every))
    assert not {"password", "password_hash"} & (set(every) | set(METADATA_FIELDS))
    # Every personal field of the account's registration is in exactly one category.
    registered = set(personal_fields(AccountRegistered)) - {"password_hash"}
    assert registered <= set(every)
    assert not set(METADATA_FIELDS) & set(personal_fields(AccountRegistered))


def test_sec_2_granting_records_once_and_revoking_records_once() -> None:
    member = staff()
    assert member.grant(Role.SUPPORT, "dpo-1") is True
    assert member.grant(Role.SUPPORT, "dpo-1") is False
    member.revoke(Role.SUPPORT, "dpo-1", dpos=1)
    granted, revoked = member.events
    assert isinstance(granted, StaffRoleGranted) and granted.granted_by == "dpo-1"
    assert isinstance(revoked, StaffRoleRevoked) and revoked.role == "support"
    assert member.roles == set()
    with pytest.raises(NotFound):
        member.revoke(Role.SUPPORT, "dpo-1", dpos=1)


def test_sec_2_the_last_dpo_cannot_be_revoked() -> None:
    dpo = staff(Role.DPO)
    with pytest.raises(LastDpo):
        dpo.revoke(Role.DPO, None, dpos=1)
    dpo.revoke(Role.DPO, None, dpos=2)
    assert dpo.roles == set()
