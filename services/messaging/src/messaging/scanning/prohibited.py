"""Prohibited content: a maintained Dutch and English list in ``data/prohibited.json`` (MSG-2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from messaging.scanning.api import Reason
from messaging.scanning.text import compile_all, fold, load_json


@dataclass(frozen=True, slots=True)
class Entry:
    """One category of prohibited content."""

    code: str
    severity: str
    pattern: re.Pattern[str]


class ProhibitedScanner:
    """Matches the list; each reason's score is 1.0 for ``block``, 0.6 for ``quarantine``."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        rows = (data or load_json("prohibited.json"))["entries"]
        for r in rows:
            if r["severity"] not in ("block", "quarantine"):
                raise ValueError(f"unknown severity for {r['code']}")
        self._entries = [Entry(r["code"], r["severity"], compile_all(r["patterns"]))
                         for r in rows]

    def scan(self, body: str) -> list[Reason]:
        """One reason per category that matched."""
        folded = fold(body)
        return [Reason("prohibited", e.code, 1.0 if e.severity == "block" else 0.6)
                for e in self._entries if e.pattern.search(folded)]
