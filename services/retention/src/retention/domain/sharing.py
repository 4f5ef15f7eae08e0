"""Disclosures of personal data to recipients (SHR-1 … SHR-5), decided before any is made.

The recipients register is the data register's ``[recipients.*]`` tables
(:class:`retention.domain.records.Recipient`): each recipient's kind, countries, transfer
basis, and the purposes and categories it may receive. A disclosure names the recipient,
the purpose and the categories; :func:`check` refuses, with a code and a reason, any
disclosure that is not in the register (SHR-1), carries more than the purpose allows
(SHR-2), is a law-enforcement request without authority and case reference (SHR-3), goes
outside the EEA without an adequacy decision or standard contractual clauses (SHR-4), or
serves third-party marketing without the member's consent (SHR-5, checked by the caller
with the contact guard, see :data:`NEEDS_CONSENT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retention.domain.records import Recipient, RecordsBasis

NEEDS_CONSENT = frozenset({"third_party_marketing", "third_party_ad_personalisation"})
"""Purposes for which data goes to a third party only with the member's consent (SHR-5):
the consent service's purposes of the same name."""


class DisclosureRefused(Exception):
    """The disclosure may not be made; ``code`` says which rule refused it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A disclosure as asked for, before it is checked."""

    subject_id: str
    recipient: str
    purpose: str
    categories: tuple[str, ...]
    legal_basis: str
    authority: str | None = None
    case_reference: str | None = None


def check(basis: RecordsBasis, asked: Disclosure) -> Recipient:
    """The recipient, if the register allows the disclosure; else :class:`DisclosureRefused`."""
    by_code = {r.code: r for r in basis.recipients}
    recipient = by_code.get(asked.recipient)
    if recipient is None:
        raise DisclosureRefused("unknown_recipient",
                                "the recipient is not in the recipients register (SHR-1)")
    if asked.purpose not in recipient.purposes:
        raise DisclosureRefused("purpose_not_allowed",
                                "the register does not name this purpose for this recipient")
    if not asked.categories:
        raise DisclosureRefused("no_categories", "name the data categories to disclose")
    extra = sorted(set(asked.categories) - set(recipient.allowed_for(asked.purpose)))
    if extra:
        raise DisclosureRefused(
            "not_minimal", f"categories beyond what this recipient may receive for the "
                           f"purpose (SHR-2): {', '.join(extra)}")
    if recipient.kind == "law_enforcement" and not (asked.authority and asked.case_reference):
        raise DisclosureRefused(
            "request_not_verified", "a law-enforcement disclosure needs the requesting "
                                    "authority and its case reference (SHR-3)")
    if recipient.outside_eea and recipient.transfer_basis not in ("adequacy", "scc"):
        raise DisclosureRefused(
            "transfer_refused", "a transfer outside the EEA needs an adequacy decision or "
                                "standard contractual clauses on file (SHR-4)")
    return recipient


def categories_of_fields(fields: Sequence[str]) -> list[str]:
    """The data categories of the fields an application shares (listings' disclosures)."""
    of = {"name": "identity", "email": "contact", "phone": "contact", "profile": "listings"}
    return sorted({of.get(f, "applications") for f in fields} | {"applications"})
