"""The records of processing (GDPR art. 30, AUD-3), from the data register and the log.

The register file says what the platform may process: each category's purposes, legal
basis, period and end of life (RET-1), and, for these records, the controller, the data
subjects, the recipients with their countries and transfer bases, and the security
measures. The log says what it did process: which services wrote events holding each
category, how many, about how many subjects, from when to when.

Pure: the parsed file and the counted log in, the records out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from retention.domain.register import DataRegister, InvalidRegister

EEA = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
})
"""The European Economic Area: the EU's 27 members and Iceland, Liechtenstein, Norway."""

RecipientKind = Literal["group_company", "employer", "law_enforcement", "processor",
                        "third_party"]
TransferBasis = Literal["eea", "adequacy", "scc"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient of personal data, where it is and on what basis data may go there."""

    code: str
    name: str
    kind: RecipientKind
    countries: tuple[str, ...]
    transfer_basis: TransferBasis
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    per_purpose: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Purpose by purpose, the fewer categories the recipient may receive for it (SHR-2);
    a purpose not named here allows every one of :attr:`categories`."""

    def allowed_for(self, purpose: str) -> tuple[str, ...]:
        """The categories the recipient may receive for ``purpose`` (none if it may not)."""
        if purpose not in self.purposes:
            return ()
        return dict(self.per_purpose).get(purpose, self.categories)

    @property
    def outside_eea(self) -> tuple[str, ...]:
        """The recipient's countries outside the EEA."""
        return tuple(c for c in self.countries if c not in EEA)

    def as_dict(self) -> dict[str, Any]:
        """The recipient as the records show it."""
        return {"recipient": self.code, "name": self.name, "kind": self.kind,
                "countries": list(self.countries), "outside_eea": list(self.outside_eea),
                "transfer_basis": self.transfer_basis, "purposes": list(self.purposes),
                "categories": list(self.categories),
                "per_purpose": {p: list(self.allowed_for(p)) for p in self.purposes}}


@dataclass(frozen=True, slots=True)
class RecordsBasis:
    """What the register file says for the records beyond the categories."""

    controller: Mapping[str, str]
    data_subjects: Mapping[str, str]
    recipients: tuple[Recipient, ...]
    security_measures: tuple[str, ...]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], register: DataRegister) -> RecordsBasis:
        """Validate the register file's tables for the records.

        Raises:
            InvalidRegister: a table is missing or wrong, a recipient names a category the
                register lacks, or a transfer outside the EEA has no lawful basis.
        """
        controller = _texts(raw.get("controller"), "controller", ("name", "address", "contact"))
        subjects = _texts(raw.get("data_subjects"), "data_subjects", ())
        security = raw.get("security")
        measures = security.get("measures") if isinstance(security, Mapping) else None
        if not isinstance(measures, list) or not measures or not all(
                isinstance(m, str) and m for m in measures):
            raise InvalidRegister("security: measures must be a non-empty list of texts")
        recipients = raw.get("recipients")
        if not isinstance(recipients, Mapping) or not recipients:
            raise InvalidRegister("the register lists no recipients")
        return cls(controller, subjects,
                   tuple(_recipient(code, body, register) for code, body in recipients.items()),
                   tuple(measures))


def _texts(raw: Any, table: str, required: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not raw or not all(
            isinstance(v, str) and v for v in raw.values()):
        raise InvalidRegister(f"{table}: must be a table of non-empty texts")
    missing = [k for k in required if k not in raw]
    if missing:
        raise InvalidRegister(f"{table}: missing {missing}")
    return dict(raw)


def _codes(body: Mapping[str, Any], key: str, code: str) -> tuple[str, ...]:
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise InvalidRegister(f"recipient {code}: {key} must be a non-empty list")
    return tuple(value)


def _recipient(code: str, body: Any, register: DataRegister) -> Recipient:
    if not isinstance(body, Mapping):
        raise InvalidRegister(f"recipient {code}: not a table")
    kind, basis = body.get("kind"), body.get("transfer_basis")
    if kind not in get_args(RecipientKind):
        raise InvalidRegister(f"recipient {code}: kind must be one of "
                              f"{', '.join(get_args(RecipientKind))}")
    if basis not in get_args(TransferBasis):
        raise InvalidRegister(f"recipient {code}: transfer_basis must be one of "
                              f"{', '.join(get_args(TransferBasis))}")
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise InvalidRegister(f"recipient {code}: name must be a non-empty text")
    countries = _codes(body, "countries", code)
    if not all(len(c) == 2 and c.isupper() for c in countries):
        raise InvalidRegister(f"recipient {code}: countries are ISO 3166 alpha-2 codes")
    categories = _codes(body, "categories", code)
    unknown = register.missing(set(categories))
    if unknown:
        raise InvalidRegister(f"recipient {code}: categories the register lacks: "
                              f"{sorted(unknown)}")
    purposes = _codes(body, "purposes", code)
    recipient = Recipient(code, body["name"], cast(RecipientKind, kind), countries,
                          cast(TransferBasis, basis), purposes, categories,
                          _per_purpose(code, body, purposes, categories))
    if recipient.outside_eea and basis == "eea":
        raise InvalidRegister(
            f"recipient {code}: {', '.join(recipient.outside_eea)} is outside the EEA: "
            "a transfer there needs an adequacy decision or standard contractual clauses")
    return recipient


def _per_purpose(code: str, body: Mapping[str, Any], purposes: tuple[str, ...],
                 categories: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = body.get("per_purpose", {})
    if not isinstance(raw, Mapping):
        raise InvalidRegister(f"recipient {code}: per_purpose must be a table")
    out = []
    for purpose, cats in raw.items():
        if purpose not in purposes:
            raise InvalidRegister(f"recipient {code}: per_purpose names {purpose}, "
                                  "not one of its purposes")
        allowed = _codes({"per_purpose": cats}, "per_purpose", code)
        beyond = sorted(set(allowed) - set(categories))
        if beyond:
            raise InvalidRegister(f"recipient {code}: per_purpose {purpose} names categories "
                                  f"beyond the recipient's: {beyond}")
        out.append((purpose, allowed))
    return tuple(out)


@dataclass
class CategoryUse:
    """What the log shows of one category: events holding it, their subjects and times."""

    events: int = 0
    subjects: set[str] = field(default_factory=set)
    producers: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None

    def count(self, producer: str, event_type: str, subject: str | None, at: str) -> None:
        """One event holding the category."""
        self.events += 1
        self.producers.add(producer)
        self.event_types.add(event_type)
        if subject:
            self.subjects.add(subject)
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last

    def as_dict(self) -> dict[str, Any]:
        """The counts, without any subject id."""
        return {"events": self.events, "subjects": len(self.subjects),
                "processed_by": sorted(self.producers), "event_types": sorted(self.event_types),
                "first": self.first, "last": self.last}


def records(register: DataRegister, basis: RecordsBasis, used: Mapping[str, CategoryUse],
            declared: Mapping[str, Iterable[str]], log: Mapping[str, Any]) -> dict[str, Any]:
    """The records of processing.

    Args:
        used: Per category, what the log shows of it.
        declared: Per category, the event types whose contracts carry it.
        log: Where the log was read and what its verification found.
    """
    processing = []
    for entry in register.entries.values():
        to = [r for r in basis.recipients if entry.category in r.categories]
        processing.append({
            "category": entry.category, "name": entry.name, "purposes": list(entry.purposes),
            "legal_basis": entry.legal_basis, "sensitivity": entry.sensitivity,
            "source": entry.source,
            "retention": {"days": entry.retention_days, "from": entry.retention_from,
                          "max_with_consent_days": entry.max_with_consent_days,
                          "end_of_life": entry.end_of_life},
            "recipients": [r.code for r in to],
            "transfers_outside_eea": [{"recipient": r.code, "countries": list(r.outside_eea),
                                       "basis": r.transfer_basis}
                                      for r in to if r.outside_eea],
            "declared_in": sorted(declared.get(entry.category, ())),
            "in_the_log": used.get(entry.category, CategoryUse()).as_dict(),
        })
    return {
        "title": "Records of processing activities (GDPR article 30)",
        "controller": dict(basis.controller),
        "register": {"version": register.version,
                     "effective_from": register.effective_from.isoformat()},
        "data_subjects": dict(basis.data_subjects),
        "processing": processing,
        "recipients": [r.as_dict() for r in basis.recipients],
        "security_measures": list(basis.security_measures),
        "log": dict(log),
    }
