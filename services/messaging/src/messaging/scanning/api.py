"""The one interface every message scanner stands behind (MSG-2).

A scanner looks at a message before it is stored readable or delivered and answers a
``Verdict``: ``delivered``, ``quarantined`` (held for the trust-and-safety role) or
``blocked``, with the detectors' reasons. Reasons name rules and scores, never the text
they matched: a verdict is recorded in events and logs, and must hold no personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["delivered", "quarantined", "blocked"]
Detector = Literal["malware", "phishing", "scam", "spam", "prohibited"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file, as uploaded."""

    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a detector objected: a rule code and, where it has one, a score."""

    detector: Detector
    code: str
    """A stable rule name, e.g. ``eicar``, ``lookalike_domain``, ``spam_score``."""
    score: float | None = None
    indicators: tuple[str, ...] = ()
    """Non-personal indicators, e.g. the registrable domain of a blocked link (SEC-3)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happens to the message, and why."""

    outcome: Outcome
    reasons: tuple[Reason, ...] = field(default=())


class Scanner(Protocol):
    """A message scanner: CPU-bound and synchronous; callers run it off the event loop."""

    def scan(self, body: str, attachments: Sequence[Attachment] = ()) -> Verdict:
        """The verdict on one message."""
        ...
