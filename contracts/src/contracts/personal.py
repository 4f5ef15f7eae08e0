"""Marks personal-data fields in event types, with their data category (RET-1)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel

ERASED: Final = "erased"
"""What a personal field reads as once its subject's key is destroyed (AUD-1)."""

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
