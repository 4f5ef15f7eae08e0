"""Job and side-job scams: the fraud typologies as rules (``data/scam.json``, issue 28, MSG-2).

Each rule is one typology (money mules, pay-to-start fees, gift-card refunds, crypto task
jobs, ID selfies, lent bank cards and logins, parcel reshipping, verification payments,
payment links off the platform, pyramid offers): every pattern of ``all`` must match the
folded body, and its ``unless`` (a safety warning such as "never share your PIN") must
not. Weights add up per distinct code; at ``threshold`` the message is a scam, held for
trust and safety with the codes as reasons (never the matched text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from messaging.scanning.api import Reason
from messaging.scanning.text import fold, load_json


@dataclass(frozen=True, slots=True)
class Rule:
    """One typology: all patterns match, the exception does not."""

    code: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None

    def fires(self, folded: str) -> bool:
        """Whether the rule holds for a folded body."""
        if self.unless is not None and self.unless.search(folded):
            return False
        return all(p.search(folded) for p in self.patterns)


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


class ScamScanner:
    """The typology rules, one score against a threshold."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        doc = data or load_json("scam.json")
        self.threshold = float(doc["threshold"])
        self._rules = [Rule(r["code"], float(r["weight"]),
                            tuple(_compile(p) for p in r["all"]),
                            _compile(r["unless"]) if r.get("unless") else None)
                       for r in doc["rules"]]

    def score(self, body: str) -> tuple[float, list[Reason]]:
        """The scam score and one reason per code that fired (its highest weight)."""
        folded = fold(body)
        fired: dict[str, float] = {}
        for r in self._rules:
            if r.weight > fired.get(r.code, 0.0) and r.fires(folded):
                fired[r.code] = r.weight
        reasons = [Reason("scam", code, w) for code, w in sorted(fired.items())]
        return round(sum(fired.values()), 3), reasons

    def scan(self, body: str) -> list[Reason]:
        """Reasons when the message is a scam, else none."""
        total, reasons = self.score(body)
        return reasons if total >= self.threshold else []
