"""The learned text model beside the rules (issue 28, MSG-2): trained from the shipped corpus,
deterministic, a ``model`` reason only at the threshold, never a block on its word alone."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from messaging.scanning.composite import CompositeScanner
from messaging.scanning.malware import MalwareScanner
from messaging.scanning.model import (
    ModelScanner,
    TextModel,
    corpus_rows,
    shipped_model,
    text_samples,
)
from messaging.scanning.phishing import PhishingScanner
from messaging.scanning.prohibited import ProhibitedScanner
from messaging.scanning.scam import ScamScanner
from messaging.scanning.spam import SpamScanner

pytestmark = pytest.mark.unit

HOLDOUTS = Path(__file__).resolve().parents[3] / "tests" / "data" / "scanner"
SCAM = "Koop vier Google Play kaarten en stuur me de codes, je krijgt alles dubbel terug."


def test_issue28_corpus_is_large_enough_per_class() -> None:
    counts = Counter(str(r["label"]) for r in corpus_rows())
    assert counts["ham"] >= 400
    for label in ("phishing", "malware", "scam", "spam", "prohibited"):
        assert counts[label] >= 150, label
    assert {str(r["lang"]) for r in corpus_rows()} == {"nl", "en"}


def test_issue28_no_holdout_message_is_in_the_training_corpus() -> None:
    trained = {" ".join(b.split()).casefold() for b, _ in text_samples()}
    for path in HOLDOUTS.glob("holdout*.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            body = " ".join(json.loads(line)["body"].split()).casefold()
            assert body not in trained, path.name


def test_issue28_model_training_is_deterministic() -> None:
    samples = text_samples()
    again = TextModel(samples)
    for body in (SCAM, "Ik kom zaterdag om tien uur, tot dan!"):
        assert again.probabilities(body) == pytest.approx(
            shipped_model().probabilities(body), abs=1e-12)


def test_issue28_model_reason_only_at_the_threshold() -> None:
    model = shipped_model()
    p = model.probabilities(SCAM)["scam"]
    assert p == max(model.probabilities(SCAM).values())
    fires = ModelScanner(model, p, frozenset({"scam"})).scan(SCAM)
    assert [(r.detector, r.code) for r in fires] == [("scam", "model")]
    assert ModelScanner(model, p + 1e-6, frozenset({"scam"})).scan(SCAM) == []
    assert ModelScanner(model, 0.0, frozenset({"phishing"})).scan(SCAM) == []


def test_issue28_model_alone_quarantines_never_blocks() -> None:
    composite = CompositeScanner(MalwareScanner(), PhishingScanner("secondjob.nl"),
                                 SpamScanner(), ProhibitedScanner(),
                                 ScamScanner({"threshold": 9.0, "rules": []}),
                                 ModelScanner(shipped_model(), 0.0, frozenset({"scam"})))
    verdict = composite.scan(SCAM)
    assert verdict.outcome == "quarantined"
    assert ("scam", "model") in {(r.detector, r.code) for r in verdict.reasons}
    assert SCAM not in repr(verdict)
