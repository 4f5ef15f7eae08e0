"""Spam: weighted rules plus a multinomial naive Bayes score (MSG-2).

The classifier is trained when the scanner is built, from ``data/spam_train.jsonl``
(labelled ``spam`` / ``ham``, Dutch and English), which ships in the package and is kept
apart from the evaluation corpus under ``tests/data/scanner/`` so measured figures are
honest. Features are folded word unigrams and bigrams; Laplace smoothing.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from messaging.scanning.api import Reason
from messaging.scanning.text import compile_all, fold, load_json, read_text

WORD = re.compile(r"[a-z0-9€$]+(?:['-][a-z0-9]+)*")


def features(text: str) -> list[str]:
    """Unigrams and bigrams of the folded text; links reduced to a ``<link>`` token."""
    words = WORD.findall(fold(re.sub(r"https?://\S+|www\.\S+", " linktoken ", text)))
    return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]


class NaiveBayes:
    """Two-class multinomial naive Bayes with Laplace smoothing."""

    def __init__(self, samples: Iterable[tuple[str, bool]]) -> None:
        counts = {True: Counter[str](), False: Counter[str]()}
        docs = {True: 0, False: 0}
        for text, is_spam in samples:
            counts[is_spam].update(features(text))
            docs[is_spam] += 1
        if not docs[True] or not docs[False]:
            raise ValueError("training needs both spam and ham samples")
        vocab = set(counts[True]) | set(counts[False])
        self._prior = math.log(docs[True] / docs[False])
        self._weights: dict[str, float] = {}
        totals = {k: sum(c.values()) + len(vocab) for k, c in counts.items()}
        for w in vocab:
            self._weights[w] = (math.log((counts[True][w] + 1) / totals[True])
                                - math.log((counts[False][w] + 1) / totals[False]))

    def probability(self, text: str) -> float:
        """P(spam | text)."""
        logit = self._prior + sum(self._weights.get(f, 0.0) for f in set(features(text)))
        logit = max(-30.0, min(30.0, logit))
        return 1.0 / (1.0 + math.exp(-logit))


def training_samples() -> list[tuple[str, bool]]:
    """The shipped training set."""
    out: list[tuple[str, bool]] = []
    for line in read_text("spam_train.jsonl").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append((row["body"], row["label"] == "spam"))
    return out


@dataclass(frozen=True, slots=True)
class Rule:
    """A spam rule."""

    code: str
    weight: float
    pattern: re.Pattern[str]


class SpamScanner:
    """Rules plus the naive Bayes probability, one score against a threshold."""

    def __init__(self, samples: Iterable[tuple[str, bool]] | None = None) -> None:
        data = load_json("spam.json")
        self.threshold = float(data["threshold"])
        self._bayes_weight = float(data["bayes_weight"])
        grouped: dict[str, list[tuple[float, str]]] = {}
        for r in data["rules"]:
            grouped.setdefault(r["code"], []).append((float(r["weight"]), r["pattern"]))
        self._rules = [Rule(code, max(w for w, _ in items), compile_all([p for _, p in items]))
                       for code, items in grouped.items()]
        self._bayes = NaiveBayes(samples if samples is not None else training_samples())

    def score(self, body: str) -> tuple[float, list[Reason]]:
        """The spam score and the rules that fired (``spam_score`` reason not included)."""
        folded = fold(body)
        fired = [Reason("spam", r.code, r.weight) for r in self._rules
                 if r.pattern.search(body if r.code == "shouting" else folded)]
        p = self._bayes.probability(body)
        total = p * self._bayes_weight + sum(r.score or 0.0 for r in fired)
        return round(total, 3), [Reason("spam", "bayes", round(p, 3)), *fired]

    def scan(self, body: str) -> list[Reason]:
        """Reasons when the message is spam, else none."""
        total, parts = self.score(body)
        if total < self.threshold:
            return []
        return [Reason("spam", "spam_score", total), *parts]
