"""A learned text model beside the rules: character n-grams and a linear model (issue 28, MSG-2).

Trained at first use from the labelled corpus shipped in ``messaging.scanning.data``
(``corpus.jsonl``), deterministically (fixed seed, no network, nothing pickled), and
cached for the process. It adds one reason, ``(detector, "model")``, when the probability
of a harmful class reaches the threshold in ``data/model.json``; that threshold was
chosen by cross-validation on the training corpus alone (``cross_validate`` below, printed
by ``make bench ARGS=scanner``), never on a holdout. The model never blocks by itself: a
message it alone objects to is quarantined for review.

Scoring one message bypasses scikit-learn's per-call validation (milliseconds) and applies
the fitted vocabulary, IDF weights and coefficients directly (tens of microseconds).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier

from messaging.scanning.api import Detector, Reason
from messaging.scanning.text import fold, load_json

SEED = 28
HARMFUL: tuple[Detector, ...] = ("phishing", "scam", "spam", "prohibited")
"""Text classes the model learns beside ``ham``; a malware message's text counts as ham (its
attachment is what harms, and the malware engine reads that)."""


def corpus_rows() -> list[dict[str, object]]:
    """The shipped labelled corpus, one dict a message (``id``, ``label``, ``lang``, ``body``,
    ``attachments``)."""
    text = resources.files("messaging.scanning.data").joinpath("corpus.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def text_samples() -> list[tuple[str, str]]:
    """``(body, text class)`` pairs the model trains on."""
    return [(str(r["body"]), "ham" if r["label"] == "malware" else str(r["label"]))
            for r in corpus_rows()]


class TextModel:
    """Character 2-5-gram TF-IDF (within words) and a class-balanced logistic regression,
    one class against the rest, fitted by stochastic gradient descent (about a second where
    the full-batch solver took twenty)."""

    def __init__(self, samples: Sequence[tuple[str, str]]) -> None:
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                     sublinear_tf=True, dtype=np.float64)
        x = vectorizer.fit_transform([fold(b) for b, _ in samples])
        lr = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=50, tol=None,
                           class_weight="balanced", random_state=SEED)
        lr.fit(x, [c for _, c in samples])
        self.classes: tuple[str, ...] = tuple(str(c) for c in lr.classes_)
        self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = {str(k): int(v)
                                            for k, v in vectorizer.vocabulary_.items()}
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._coef = np.asarray(lr.coef_, dtype=np.float64).T.copy()  # features x classes
        self._intercept = np.asarray(lr.intercept_, dtype=np.float64)

    def probabilities(self, body: str) -> dict[str, float]:
        """The probability of each class for one message body."""
        counts = Counter(i for g in self._analyze(fold(body))
                         if (i := self._vocabulary.get(g)) is not None)
        logits = self._intercept.copy()
        if counts:
            idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter((1.0 + math.log(n) for n in counts.values()), dtype=np.float64,
                             count=len(counts)) * self._idf[idx]
            tf /= math.sqrt(float(tf @ tf))
            logits += tf @ self._coef[idx]
        p = 1.0 / (1.0 + np.exp(-logits))  # one-vs-rest, normalised as scikit-learn does
        p /= p.sum()
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}


@lru_cache(maxsize=1)
def shipped_model() -> TextModel:
    """The model trained from the shipped corpus, once per process (deterministic)."""
    return TextModel(text_samples())


@dataclass(frozen=True, slots=True)
class ModelScanner:
    """The model as a detector: one reason when a harmful class reaches the threshold."""

    model: TextModel
    threshold: float
    detectors: frozenset[str]

    def scan(self, body: str) -> list[Reason]:
        """``[Reason(class, "model", probability)]`` or nothing."""
        probs = self.model.probabilities(body)
        best = max(HARMFUL, key=lambda c: probs.get(c, 0.0))
        p = probs.get(best, 0.0)
        if best in self.detectors and p >= self.threshold:
            return [Reason(best, "model", round(p, 3))]
        return []


def default_model_scanner() -> ModelScanner | None:
    """The shipped model with ``data/model.json``'s threshold, or ``None`` when disabled there."""
    cfg = load_json("model.json")
    if not cfg["enabled"]:
        return None
    return ModelScanner(shipped_model(), float(cfg["threshold"]), frozenset(cfg["detectors"]))


@dataclass(frozen=True, slots=True)
class Fold:
    """Out-of-fold figures of rules + model at one threshold."""

    threshold: float
    ham_false_positive_rate: float
    harmful_recall: float


def cross_validate(samples: Sequence[tuple[str, str]], rules_flag: Sequence[bool],
                   thresholds: Sequence[float], folds: int = 5) -> list[Fold]:
    """Rules OR model on out-of-fold predictions of the training corpus, per threshold.

    Args:
        samples: ``(body, text class)`` pairs.
        rules_flag: whether the rules alone hold each sample (not delivered).
        thresholds: candidate model thresholds.
        folds: stratified folds, shuffled with the fixed seed.
    """
    from sklearn.model_selection import StratifiedKFold

    labels = [c for _, c in samples]
    harmful_p = [0.0] * len(samples)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(
            np.zeros(len(labels)), labels):
        m = TextModel([samples[i] for i in train])
        for i in test:
            probs = m.probabilities(samples[i][0])
            harmful_p[i] = max(probs.get(c, 0.0) for c in HARMFUL)
    ham = [i for i, c in enumerate(labels) if c == "ham"]
    bad = [i for i, c in enumerate(labels) if c != "ham"]
    out = []
    for t in thresholds:
        held = [rules_flag[i] or harmful_p[i] >= t for i in range(len(samples))]
        out.append(Fold(t, sum(held[i] for i in ham) / max(len(ham), 1),
                        sum(held[i] for i in bad) / max(len(bad), 1)))
    return out


def choose_threshold(results: Sequence[Fold], max_ham_fp: float) -> Fold:
    """The lowest threshold whose out-of-fold ham false-positive rate stays within bounds."""
    ok = [f for f in results if f.ham_false_positive_rate <= max_ham_fp]
    return min(ok, key=lambda f: f.threshold) if ok else max(results, key=lambda f: f.threshold)
