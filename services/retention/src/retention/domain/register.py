"""The data register (RET-1): each data category's purposes, basis, period and end of life.

Pure: built from the parsed register file (see ``adapters/register.py``), validated whole so
a malformed register stops the service at start instead of misleading an export later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, get_args

LegalBasis = Literal["consent", "contract", "legitimate_interest", "legal_obligation"]
RetentionFrom = Literal["collected", "last_used", "account_closed"]
Sensitivity = Literal["normal", "high"]
EndOfLife = Literal["erase", "pseudonymise"]

_REQUIRED = ("name", "purposes", "legal_basis", "retention_days", "retention_from",
             "sensitivity", "end_of_life", "source")
_OPTIONAL = ("max_with_consent_days",)


class InvalidRegister(ValueError):
    """The register file does not say what RET-1 needs; the message names the entry."""


@dataclass(frozen=True, slots=True)
class CategoryEntry:
    """What the register says about one data category."""

    category: str
    name: str
    purposes: tuple[str, ...]
    legal_basis: LegalBasis
    retention_days: int
    retention_from: RetentionFrom
    sensitivity: Sensitivity
    end_of_life: EndOfLife
    source: str
    max_with_consent_days: int | None = None

    @property
    def retention(self) -> timedelta:
        """The retention period."""
        return timedelta(days=self.retention_days)

    def as_dict(self) -> dict[str, Any]:
        """The entry as the API shows it."""
        return {
            "category": self.category, "name": self.name, "purposes": list(self.purposes),
            "legal_basis": self.legal_basis, "retention_days": self.retention_days,
            "retention_from": self.retention_from,
            "max_with_consent_days": self.max_with_consent_days,
            "sensitivity": self.sensitivity, "end_of_life": self.end_of_life,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class DataRegister:
    """Every data category of the platform, at one version of the register."""

    version: str
    effective_from: date
    entries: Mapping[str, CategoryEntry]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DataRegister:
        """Validate a parsed register file.

        Raises:
            InvalidRegister: a missing or unknown field, or a value out of its set.
        """
        version, effective = raw.get("version"), raw.get("effective_from")
        if not isinstance(version, str) or not version:
            raise InvalidRegister("the register needs a version")
        if not isinstance(effective, date):
            raise InvalidRegister("the register needs an effective_from date")
        cats = raw.get("categories")
        if not isinstance(cats, Mapping) or not cats:
            raise InvalidRegister("the register lists no categories")
        entries = {name: _entry(name, body) for name, body in cats.items()}
        return cls(version, effective, entries)

    def entry(self, category: str) -> CategoryEntry:
        """The entry of a category.

        Raises:
            KeyError: the register lacks the category.
        """
        return self.entries[category]

    def missing(self, categories: set[str]) -> set[str]:
        """Which of ``categories`` the register lacks."""
        return categories - set(self.entries)

    def as_dict(self) -> dict[str, Any]:
        """The whole register as the API shows it."""
        return {
            "version": self.version, "effective_from": self.effective_from.isoformat(),
            "categories": [e.as_dict() for e in self.entries.values()],
        }


def _entry(category: str, body: Any) -> CategoryEntry:
    if not isinstance(body, Mapping):
        raise InvalidRegister(f"category {category}: not a table")
    missing = [f for f in _REQUIRED if f not in body]
    unknown = [f for f in body if f not in _REQUIRED + _OPTIONAL]
    if missing or unknown:
        raise InvalidRegister(f"category {category}: missing {missing}, unknown {unknown}")
    purposes = body["purposes"]
    if not isinstance(purposes, list) or not purposes or not all(
            isinstance(p, str) and p for p in purposes):
        raise InvalidRegister(f"category {category}: purposes must be a non-empty list")
    for field, kind in (("legal_basis", LegalBasis), ("retention_from", RetentionFrom),
                        ("sensitivity", Sensitivity), ("end_of_life", EndOfLife)):
        if body[field] not in get_args(kind):
            raise InvalidRegister(f"category {category}: {field} must be one of "
                                  f"{', '.join(get_args(kind))}")
    days, longer = body["retention_days"], body.get("max_with_consent_days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise InvalidRegister(f"category {category}: retention_days must be a positive integer")
    if longer is not None and (not isinstance(longer, int) or longer <= days):
        raise InvalidRegister(
            f"category {category}: max_with_consent_days must exceed retention_days")
    for field in ("name", "source"):
        if not isinstance(body[field], str) or not body[field]:
            raise InvalidRegister(f"category {category}: {field} must be a non-empty text")
    return CategoryEntry(
        category=category, name=body["name"], purposes=tuple(purposes),
        legal_basis=body["legal_basis"], retention_days=days,
        retention_from=body["retention_from"], sensitivity=body["sensitivity"],
        end_of_life=body["end_of_life"], source=body["source"], max_with_consent_days=longer,
    )
