"""Marks personal-data fields in event types, with their data category (RET-1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Final, Literal

from pydantic import BaseModel

ERASED: Final = "erased"
"""What a personal field reads as once its subject's key is destroyed (AUD-1)."""

WITHHELD: Final = "withheld"
"""What a credential field reads as to an auditor (AUD-1, SEC-4); an export leaves it out."""

Erased = Literal["erased"]


class DataCategory(StrEnum):
    """The data categories of the data register (RET-1)."""

    IDENTITY = "identity"
    CONTACT = "contact"
    DEMOGRAPHICS = "optional_demographics"
    DEVICE = "device"
    LOCATION = "location"
    USAGE = "usage"
    MESSAGES = "messages"
    LISTINGS = "listings"
    FEEDBACK = "feedback"
    APPLICATIONS = "applications"
    CALL_TRACKING = "call_tracking"
    CONSENT = "consent_records"
    DISPUTES = "disputes"
    SECURITY = "security_logs"


@dataclass(frozen=True)
class Personal:
    """Field metadata: this field is personal data of the event's subject.

    Use as ``Annotated[str | Erased, Personal(DataCategory.CONTACT)]``. The kernel
    encrypts every such field under the subject's key before it is stored or published.

    ``expiring=True`` (MSG-3) seals the field under a key of the subject, the category and
    the UTC calendar month the event occurred in, instead of the subject's own key. The
    key store destroys such keys when the category's retention period has run past their
    month, so the value becomes unreadable everywhere (stores, Kafka, backups) while the
    rest of the event stays readable.
    """

    category: DataCategory
    expiring: bool = False


@dataclass(frozen=True)
class Credential:
    """Field metadata: this field is credential material (a password or token hash, a secret).

    Use beside :class:`Personal`: ``Annotated[str, Personal(...), CREDENTIAL]``. Its value
    stays with the service that checks it: an export leaves it out (GDPR art. 15(4): a
    hash helps an attacker) and an auditor's replay shows it as "withheld".
    """


CREDENTIAL: Final = Credential()
"""The marker of a credential field."""


@cache
def credential_fields(model: type[BaseModel]) -> frozenset[str]:
    """The credential fields of an event type: the one rule the export and the auditor's
    replay withhold by."""
    return frozenset(name for name, info in model.model_fields.items()
                     if any(isinstance(meta, Credential) for meta in info.metadata))


def withhold_credentials(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with every credential field that holds a value read as "withheld" (in
    place; an erased value stays "erased", an absent one absent)."""
    for name in credential_fields(model):
        if payload.get(name) not in (None, ERASED):
            payload[name] = WITHHELD
    return payload


def personal_fields(model: type[BaseModel]) -> dict[str, Personal]:
    """The personal fields of an event type, by field name."""
    found: dict[str, Personal] = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Personal):
                found[name] = meta
    return found


def categories_of(model: type[BaseModel], payload: dict[str, Any] | None = None) -> set[str]:
    """Data categories an event holds; with ``payload``, only fields actually present."""
    return {
        p.category.value
        for name, p in personal_fields(model).items()
        if payload is None or payload.get(name) is not None
    }
