"""The composite scanner: every detector, one verdict by the outcome policy (MSG-2).

Policy: malware → blocked (a ``quarantine``-severity rule, e.g. an encrypted archive,
→ quarantined); phishing score ≥ strong → blocked, ≥ weak → quarantined; spam →
quarantined (so is a body over ``MAX_TEXT`` characters); scam → quarantined for trust
and safety with its typology codes (issue 28); the learned model (``model.py``) →
quarantined with reason code ``model``; prohibited → blocked or
quarantined by the entry's severity. The most severe outcome wins; every objecting
detector's reasons are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from messaging.scanning.api import Attachment, Outcome, Reason, Verdict
from messaging.scanning.malware import MalwareScanner
from messaging.scanning.model import ModelScanner
from messaging.scanning.phishing import PhishingScanner
from messaging.scanning.prohibited import ProhibitedScanner
from messaging.scanning.scam import ScamScanner
from messaging.scanning.spam import SpamScanner

MAX_TEXT = 20_000
"""Characters of body the text detectors read. A longer body (no job-marketplace message
needs one) is quarantined for review unread by them, which keeps a scan's time bounded."""

RANK: dict[Outcome, int] = {"delivered": 0, "quarantined": 1, "blocked": 2}


class CompositeScanner:
    """Malware, phishing, scams, spam and prohibited content behind one ``Scanner``."""

    def __init__(self, malware: MalwareScanner, phishing: PhishingScanner, spam: SpamScanner,
                 prohibited: ProhibitedScanner, scam: ScamScanner | None = None,
                 model: ModelScanner | None = None) -> None:
        self.malware = malware
        self.phishing = phishing
        self.spam = spam
        self.prohibited = prohibited
        self.scam = scam or ScamScanner()
        self.model = model

    def scan(self, body: str, attachments: Sequence[Attachment] = ()) -> Verdict:
        """The verdict on one message."""
        outcome: Outcome = "delivered"
        reasons: list[Reason] = []

        def escalate(to: Outcome) -> None:
            nonlocal outcome
            if RANK[to] > RANK[outcome]:
                outcome = to

        if attachments:
            found = self.malware.scan(attachments)
            if found:
                reasons += found
                escalate("blocked" if any(r.score == 1.0 for r in found) else "quarantined")
        if len(body) > MAX_TEXT:
            reasons.append(Reason("spam", "oversized_body", float(len(body))))
            escalate("quarantined")
            return Verdict(outcome, tuple(reasons))
        phish, score = self.phishing.scan(body)
        if score >= self.phishing.weak:
            reasons.append(Reason("phishing", "phishing_score", score))
            reasons += phish
            escalate("blocked" if score >= self.phishing.strong else "quarantined")
        scam = self.scam.scan(body)
        if scam:
            reasons += scam
            escalate("quarantined")
        banned = self.prohibited.scan(body)
        if banned:
            reasons += banned
            escalate("blocked" if any(r.score == 1.0 for r in banned) else "quarantined")
        spam = self.spam.scan(body)
        if spam:
            reasons += spam
            escalate("quarantined")
        if self.model is not None:
            learned = self.model.scan(body)
            if learned:
                reasons += learned
                escalate("quarantined")  # never blocked on the model's word alone
        return Verdict(outcome, tuple(reasons))
