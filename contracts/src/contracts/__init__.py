"""Versioned event contracts shared by the services (pydantic only)."""

from contracts import accounts, privacy, staff
from contracts.envelope import Envelope, Event, event_class
from contracts.personal import ERASED, DataCategory, Personal, categories_of, personal_fields

__all__ = [
    "ERASED",
    "DataCategory",
    "Envelope",
    "Event",
    "Personal",
    "accounts",
    "categories_of",
    "event_class",
    "personal_fields",
    "privacy",
    "staff",
]
