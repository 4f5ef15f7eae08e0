"""Events of staff roles and staff access to personal data (SEC-2), on ``accounts.events.v1``.

None of these events carries a personal value: an access is recorded by account ids, the
role, a purpose code, a ticket reference and the *names* of the fields shown.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from contracts.envelope import Event

StaffRole = Literal["support", "trust_and_safety", "dpo", "auditor", "ops"]
"""The staff roles; what each may do is the accounts service's permission table."""

STAFF_ROLES: tuple[str, ...] = ("support", "trust_and_safety", "dpo", "auditor", "ops")

AccessPurpose = Literal[
    "support_request", "fraud_investigation", "abuse_report", "privacy_request",
    "legal_obligation", "security_incident",
]
"""Why a staff member looks at a member's data; a code, never free text."""

ACCESS_PURPOSES: tuple[str, ...] = (
    "support_request", "fraud_investigation", "abuse_report", "privacy_request",
    "legal_obligation", "security_incident",
)

REFERENCE_PATTERN = r"^[A-Za-z0-9._:#/-]{1,64}$"
"""A ticket or case reference: no spaces and no ``@``, so no names or e-mail addresses."""


class _StaffEvent(Event):
    producer: ClassVar[str] = "accounts"


class StaffRoleGranted(_StaffEvent):
    """An account was given a staff role (SEC-2)."""

    event_type: ClassVar[str] = "accounts.StaffRoleGranted"

    account_id: str = Field(description="The staff member's account.")
    role: StaffRole = Field(description="The role granted.")
    granted_by: str | None = Field(
        description="The DPO's account id; null when granted from the command line (bootstrap)."
    )


class StaffRoleRevoked(_StaffEvent):
    """A staff role was taken away from an account (SEC-2)."""

    event_type: ClassVar[str] = "accounts.StaffRoleRevoked"

    account_id: str = Field(description="The staff member's account.")
    role: StaffRole = Field(description="The role revoked.")
    revoked_by: str | None = Field(
        description="The DPO's account id; null when revoked from the command line."
    )


class StaffAccessedPersonalData(_StaffEvent):
    """A staff member was shown a member's personal data (SEC-2).

    Appended in the same transaction as the read, on the staff member's stream, with the
    member read as the envelope's ``subject_id``. Names fields, never their values.
    """

    event_type: ClassVar[str] = "accounts.StaffAccessedPersonalData"

    access_id: str = Field(description="The access (one per read).")
    staff_account_id: str = Field(description="Who looked.")
    role: StaffRole = Field(description="The role the access was made under.")
    subject_id: str = Field(description="Whose data was shown.")
    purpose: AccessPurpose = Field(description="Why the staff member looked.")
    reference: str | None = Field(
        None, pattern=REFERENCE_PATTERN, description="Ticket or case reference, if any."
    )
    categories: list[str] = Field(description="Data categories shown (RET-1 names).")
    fields: list[str] = Field(description="Names of the fields shown; never their values.")
