"""Commands the retention service accepts (imperative, validated at the edge)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubmitPrivacyRequest:
    """Record a data subject's request to exercise a right (PRV-7)."""

    subject_id: str
    type: str
    channel: str
    identity_verified: bool
    carried_out: bool = False
    """The right was exercised already (a rectification applied to the account, PRV-3)."""


@dataclass(frozen=True, slots=True)
class VerifyPrivacyRequest:
    """Staff verified the identity behind a request that came by form, e-mail or post."""

    request_id: str


@dataclass(frozen=True, slots=True)
class RefusePrivacyRequest:
    """Refuse a request, with its reason (PRV-7)."""

    request_id: str
    reason: str
