"""A subject's consent ledger (CNS-5): entries in order, the state they make at any instant.

The ledger decides each command against the state now and records a past-tense event;
:meth:`Ledger.state_at` folds the entries up to any instant, naming the entries that made
each purpose's state, so the state at a past instant can be proven.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent.domain.catalogue import Catalogue, Purpose
from consent.domain.errors import InvalidPreferences, NotConsentBased, UnknownPurpose
from contracts.consent import (
    CHANNELS,
    KINDS,
    ConsentDecisionRecorded,
    PreferencesChanged,
    PrivacyRequestCarriedOut,
    ProcessingRestricted,
)
from contracts.envelope import Event

IN_EFFECT = frozenset({"granted", "objection_lifted"})


@dataclass(frozen=True)
class Entry:
    """One ledger entry as read back (personal fields may read ``"erased"``)."""

    entry_id: str
    at: datetime
    event: Event

    def view(self) -> dict[str, Any]:
        """The entry as answered to its member or a DPO."""
        return {"entry_id": self.entry_id, "at": self.at.isoformat(),
                "type": self.event.event_type.split(".", 1)[1],
                **self.event.model_dump(mode="json", exclude={"subject_id"})}


def default_preferences() -> dict[str, dict[str, bool]]:
    """Every channel and kind allowed: preferences only ever narrow what consent allows."""
    return {ch: dict.fromkeys(KINDS, True) for ch in CHANNELS}


@dataclass
class PurposeState:
    """A purpose's state for one subject at one instant."""

    purpose: Purpose
    granted: bool
    statement_version: int
    updated_at: datetime | None = None
    needs_reconsent: bool = False
    objected: bool = False
    entries: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The API's ``{purpose, granted, legal_basis, statement_version, updated_at}`` and more."""
        return {
            "purpose": self.purpose.slug, "granted": self.granted,
            "legal_basis": self.purpose.legal_basis,
            "statement_version": self.statement_version,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "needs_reconsent": self.needs_reconsent, "objected": self.objected,
            "channels": list(self.purpose.channels), "kind": self.purpose.kind,
            "cookie": self.purpose.cookie, "description": dict(self.purpose.text),
            "entries": list(self.entries),
        }


@dataclass
class State:
    """Everything the ledger says at one instant."""

    at: datetime
    purposes: dict[str, PurposeState]
    preferences: dict[str, dict[str, bool]]
    restricted: bool

    def view(self) -> dict[str, Any]:
        """The answer of ``GET /v1/me/consents``."""
        return {"as_of": self.at.isoformat(),
                "purposes": [p.view() for p in self.purposes.values()],
                "channels": self.preferences, "restricted": self.restricted}


@dataclass
class Ledger:
    """The ledger of one data subject: its entries so far and the events of this command."""

    subject_id: str
    entries: list[Entry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def state_at(self, catalogue: Catalogue, at: datetime) -> State:
        """The state the entries up to ``at`` make, with the entries behind each purpose."""
        statement = catalogue.statement_at(at).version
        states = {slug: PurposeState(p, p.legal_basis != "consent", statement)
                  for slug, p in catalogue.purposes.items()}
        preferences = default_preferences()
        restricted = False
        for entry in self.entries:
            if entry.at > at:
                break
            ev = entry.event
            if isinstance(ev, ConsentDecisionRecorded) and ev.purpose in states:
                s = states[ev.purpose]
                s.granted = ev.action in IN_EFFECT
                s.objected = ev.action == "objected"
                s.statement_version = ev.statement_version
                s.updated_at = entry.at
                s.entries.append(entry.entry_id)
            elif isinstance(ev, PreferencesChanged) and isinstance(ev.preferences, dict):
                for channel, kinds in ev.preferences.items():
                    preferences.setdefault(channel, {}).update(kinds)
            elif isinstance(ev, ProcessingRestricted):
                restricted = ev.restricted
        for s in states.values():
            if s.purpose.legal_basis == "consent" and s.granted and catalogue.needs_reconsent(
                    s.purpose.slug, s.statement_version, at):
                s.needs_reconsent, s.granted = True, False
            if s.purpose.legal_basis in ("contract", "legal_obligation"):
                s.granted = True
        return State(at, states, preferences, restricted)

    def _record(self, event: Event, entry_id: str, now: datetime) -> None:
        self.events.append(event)
        self.entries.append(Entry(entry_id, now, event))

    def decide(self, catalogue: Catalogue, slug: str, granted: bool, source: str,
               channel: str | None, now: datetime, entry_id: str) -> PurposeState:
        """Grant or withdraw consent, or object or lift an objection (CNS-2, CNS-3, PRV-4).

        Nothing is recorded when the purpose is already in the asked state (idempotent).

        Raises:
            UnknownPurpose: no such purpose.
            NotConsentBased: a contract or legal-obligation purpose.
        """
        purpose = catalogue.purpose(slug)
        if purpose is None:
            raise UnknownPurpose("no such purpose")
        if not purpose.decidable:
            raise NotConsentBased(
                f"this purpose rests on {purpose.legal_basis.replace('_', ' ')}, not on consent"
            )
        current = self.state_at(catalogue, now).purposes[slug]
        if current.granted == granted:
            return current
        if purpose.legal_basis == "consent":
            action = "granted" if granted else "withdrawn"
        else:
            action = "objection_lifted" if granted else "objected"
        self._record(ConsentDecisionRecorded(
            subject_id=self.subject_id, purpose=slug, legal_basis=purpose.legal_basis,
            statement_version=catalogue.statement_at(now).version, action=action,
            channel=channel, source=source,
        ), entry_id, now)
        return self.state_at(catalogue, now).purposes[slug]

    def set_preferences(self, catalogue: Catalogue, changes: Mapping[str, Mapping[str, bool]],
                        source: str, now: datetime, entry_id: str) -> dict[str, dict[str, bool]]:
        """Change channel-and-kind preferences (CNS-1); returns them all after the change."""
        for channel, kinds in changes.items():
            if channel not in CHANNELS or not set(kinds) <= set(KINDS):
                raise InvalidPreferences(
                    f"channels are {', '.join(CHANNELS)}; kinds are {', '.join(KINDS)}"
                )
        current = self.state_at(catalogue, now).preferences
        merged = {ch: {**kinds, **changes.get(ch, {})} for ch, kinds in current.items()}
        if merged != current:
            self._record(PreferencesChanged(subject_id=self.subject_id, preferences=merged,
                                            source=source), entry_id, now)
        return merged

    def restrict(self, catalogue: Catalogue, restricted: bool, source: str,
                 request_id: str | None, now: datetime, entry_id: str) -> bool:
        """Restrict processing, or lift the restriction (PRV-6); idempotent."""
        if self.state_at(catalogue, now).restricted != restricted:
            self._record(ProcessingRestricted(subject_id=self.subject_id, restricted=restricted,
                                              source=source, request_id=request_id),
                         entry_id, now)
        return restricted

    def carried_out(self, request_id: str, type_: str, now: datetime, entry_id: str) -> None:
        """Record that a privacy request of the subject was carried out (PRV-7)."""
        self._record(PrivacyRequestCarriedOut(request_id=request_id, subject_id=self.subject_id,
                                              type=type_), entry_id, now)
