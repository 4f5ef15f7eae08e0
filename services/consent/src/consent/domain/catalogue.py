"""The purpose catalogue and privacy-statement versions (CNS-1, CNS-2, CNS-3, CNS-6, CNS-8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.consent import CHANNELS, KINDS

LEGAL_BASES = ("consent", "contract", "legitimate_interest", "legal_obligation")


@dataclass(frozen=True)
class Purpose:
    """One purpose of processing and what the member may decide about it."""

    slug: str
    legal_basis: str
    channels: tuple[str, ...]
    kind: str | None
    marketing: bool
    cookie: bool
    text: Mapping[str, str]

    @property
    def decidable(self) -> bool:
        """Consent can be given or withdrawn, or an objection made (not contract/law)."""
        return self.legal_basis in ("consent", "legitimate_interest")


@dataclass(frozen=True)
class Statement:
    """A version of the privacy statement and the purposes whose text it changed."""

    version: int
    effective_from: datetime
    changed_purposes: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    """Every purpose and every statement version, as loaded from the versioned file."""

    version: int
    purposes: Mapping[str, Purpose]
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Catalogue:
        """Build from the file's JSON; raises ``ValueError`` on anything malformed."""
        purposes = {}
        for slug, p in data["purposes"].items():
            if not slug.replace("_", "").isalnum() or slug != slug.lower():
                raise ValueError(f"purpose slug {slug!r} is not URL-safe")
            if p["legal_basis"] not in LEGAL_BASES:
                raise ValueError(f"{slug}: unknown legal basis")
            if not set(p["channels"]) <= set(CHANNELS) or p.get("kind") not in (*KINDS, None):
                raise ValueError(f"{slug}: unknown channel or kind")
            purposes[slug] = Purpose(slug, p["legal_basis"], tuple(p["channels"]), p.get("kind"),
                                     bool(p["marketing"]), bool(p.get("cookie", False)),
                                     {"nl": p["nl"], "en": p["en"]})
        statements = tuple(sorted(
            (Statement(s["version"], datetime.fromisoformat(s["effective_from"]),
                       frozenset(s["changed_purposes"])) for s in data["statements"]),
            key=lambda s: s.version,
        ))
        if not statements:
            raise ValueError("the catalogue needs a statement version")
        return cls(int(data["catalogue_version"]), purposes, statements)

    def purpose(self, slug: str) -> Purpose | None:
        """The purpose with that slug."""
        return self.purposes.get(slug)

    def statement_at(self, at: datetime) -> Statement:
        """The statement version in force at ``at`` (the first one before any)."""
        current = self.statements[0]
        for s in self.statements:
            if s.effective_from <= at:
                current = s
        return current

    def needs_reconsent(self, purpose: str, given_under: int, at: datetime) -> bool:
        """Whether a statement newer than ``given_under``, in force at ``at``, changed it."""
        return any(s.version > given_under and s.effective_from <= at
                   and purpose in s.changed_purposes for s in self.statements)

    def terms(self) -> dict[str, Any]:
        """The catalogue as the guards need it (``CatalogPublished`` fields)."""
        return {
            "catalogue_version": self.version,
            "purposes": [{"purpose": p.slug, "legal_basis": p.legal_basis,
                          "channels": list(p.channels), "kind": p.kind,
                          "marketing": p.marketing} for p in self.purposes.values()],
            "statements": [{"version": s.version, "effective_from": s.effective_from.isoformat(),
                            "changed_purposes": sorted(s.changed_purposes)}
                           for s in self.statements],
        }
