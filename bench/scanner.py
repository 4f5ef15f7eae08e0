"""Quality and speed of the message scanner (MSG-2): ``make bench ARGS=scanner``.

Runs ``messaging.scanning.default_scanner()`` over the labelled corpus in
``tests/data/scanner/corpus.jsonl`` (ham, spam, phishing, malware attachments, prohibited;
Dutch and English) and prints per class precision and recall, the false-positive rate on
ham, and messages/s through the whole scanner, each beside its target (issue 14):
recall >= 0.95 on phishing and malware, ham false positives <= 2 %, >= 500 messages/s.

The spam classifier is trained on ``messaging/scanning/data/spam_train.jsonl``, a
separate set: no corpus message is in it. The rules' patterns and weights were written
alongside ``corpus.jsonl``, so its figures flatter them; ``holdout.jsonl`` (55 messages)
was written after the rules were frozen and has never been used to tune them: its
figures, printed after the corpus's, are the honest estimate. Keep it that way: a miss in
the holdout is fixed by new corpus lines and rules, plus a fresh holdout.

For throughput the corpus is scanned in a loop (a fresh scanner each pass, so no link
lookup is cached from the pass before), on one core.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

from bench.common import report
from messaging.scanning import default_scanner
from messaging.scanning.api import Scanner
from messaging.scanning.evaluation import CLASSES, Sample, evaluate, load
from messaging.scanning.model import (
    HARMFUL,
    choose_threshold,
    cross_validate,
    text_samples,
)
from messaging.scanning.text import load_json

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scanner"
CORPUS = Path(str(resources.files("messaging.scanning.data").joinpath("corpus.jsonl")))
"""The training corpus, shipped in the package: the learned model trains on it."""
HOLDOUT = DATA / "holdout.jsonl"
TYPOLOGIES = DATA / "holdout_typologies.jsonl"
"""Issue 28: written from the job-fraud typology descriptions alone, before any scam rule
existed, and committed (frozen) before tuning; the rules were then tuned on corpus.jsonl
only. Its figures are printed beside the issue's targets and never tuned on."""
TYPOLOGIES_2 = DATA / "holdout_typologies_2.jsonl"
"""Issue 28, second holdout: written from the issue's typology descriptions alone, without
reading the training corpus or the rules, and committed before any further tuning or the
learned model; frozen, never tuned on."""
PASSES = 10


def main() -> int:
    """Print the figures; exit 1 when a target is missed."""
    started = time.perf_counter()
    scanner = default_scanner()
    built = time.perf_counter() - started
    print(f"scanner built (rules compiled, spam model and learned text model trained) in "
          f"{built * 1000:.0f} ms", flush=True)
    rules = default_scanner(learned=False)
    samples = load(CORPUS)
    ok = quality(scanner, "training corpus (rules + model, flattering)", samples)
    threshold_by_cross_validation(rules)
    for name, path in (("holdout (never tuned on)", HOLDOUT),
                       ("typology holdout (issue 28, frozen before tuning)", TYPOLOGIES),
                       ("second typology holdout (frozen before further tuning)", TYPOLOGIES_2)):
        print(f"== {name}: rules alone", flush=True)
        typologies(rules, name, path)
        print(f"== {name}: rules + learned model (as shipped)", flush=True)
        ok &= typologies(scanner, name, path)
    timings: list[float] = []
    walls: list[float] = []
    for _ in range(PASSES):
        fresh = default_scanner()
        t0, w0 = time.process_time(), time.perf_counter()
        for s in samples:
            fresh.scan(s.body, s.attachments)
        timings.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    # Per core: CPU seconds of this process; on a shared machine wall time also counts the
    # other processes' turns on the core (printed beside it).
    rate = len(samples) / sorted(timings)[len(timings) // 2]
    met = rate >= 500
    ok &= met
    report("messages/s per core, CPU time (median pass)", rate, "msg/s", ">= 500", met)
    wall = len(samples) / sorted(walls)[len(walls) // 2]
    print(f"{'messages/s, wall clock (median pass)':<58} {wall:>12,.1f} msg/s   (shared machine)",
          flush=True)
    return 0 if ok else 1


def threshold_by_cross_validation(rules: Scanner) -> None:
    """Out-of-fold figures of rules + model on the training corpus; the threshold they pick."""
    samples = text_samples()
    flags = [rules.scan(body).outcome != "delivered" for body, _ in samples]
    folds = cross_validate(samples, flags, [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01])
    base = folds[-1].ham_false_positive_rate
    print("-- 5-fold cross-validation on the training corpus (rules OR model, "
          f"harmful = {', '.join(HARMFUL)}):", flush=True)
    for f in folds:
        print(f"  threshold {f.threshold:.2f}: ham held {f.ham_false_positive_rate * 100:.2f} %"
              f", harmful held {f.harmful_recall * 100:.1f} %", flush=True)
    chosen = choose_threshold(folds, base + 0.005)
    shipped = load_json("model.json")["threshold"]
    print(f"  chosen (lowest with ham held <= rules alone + 0.5 pt): {chosen.threshold:.2f}; "
          f"shipped in model.json: {shipped}", flush=True)


def typologies(scanner: Scanner, name: str, path: Path) -> bool:
    """Issue 28's targets on a typology holdout: harmful and scam recall, ham false positives."""
    samples = load(path)
    result = evaluate(scanner, samples)
    print(f"-- {name}: {len(samples)} messages: "
          + ", ".join(f"{c} {n}" for c, n in sorted(result.counts.items())), flush=True)
    for c in CLASSES:
        if result.counts.get(c):
            print(f"  {c:<11} precision {result.precision[c]:.3f}  recall "
                  f"{result.recall[c]:.3f}", flush=True)
    harmful = [s for s in samples if s.label in ("phishing", "malware")]
    if not any(s.label == "scam" for s in samples):
        print("  (no scam in this set)", flush=True)
    missed = {e[0] for e in result.errors}
    caught = sum(1 for s in harmful if s.id not in missed)
    checks = [("recall on harmful (phishing, malware)", caught / max(len(harmful), 1), 0.95),
              ("recall on scam", result.recall["scam"], 0.90)]
    ok = True
    for name, value, target in checks:
        met = value >= target
        ok &= met
        report(name, value * 100, "%", f">= {target * 100:.0f} %", met)
    met = result.ham_false_positive_rate <= 0.01
    ok &= met
    report("false positives on ham (not delivered)", result.ham_false_positive_rate * 100, "%",
           "<= 1 %", met)
    for sample_id, label, predicted in result.errors:
        print(f"  missed: {sample_id} ({label} read as {predicted})", flush=True)
    return ok


def quality(scanner: Scanner, name: str, samples: list[Sample]) -> bool:
    """Print one set's precision and recall per class; whether its targets are met."""
    result = evaluate(scanner, samples)
    langs = sorted({s.lang for s in samples})
    print(f"-- {name}: {len(samples)} messages ({', '.join(langs)}): "
          + ", ".join(f"{c} {result.counts.get(c, 0)}" for c in CLASSES), flush=True)
    ok = True
    for c in CLASSES:
        print(f"  {c:<11} precision {result.precision[c]:.3f}  recall {result.recall[c]:.3f}",
              flush=True)
    for c in ("phishing", "malware"):
        met = result.recall[c] >= 0.95
        ok &= met
        report(f"recall on {c}", result.recall[c] * 100, "%", ">= 95 %", met)
    met = result.ham_false_positive_rate <= 0.02
    ok &= met
    report("false positives on ham (not delivered)", result.ham_false_positive_rate * 100, "%",
           "<= 2 %", met)
    for c in ("spam", "prohibited"):
        print(f"{'recall on ' + c:<58} {result.recall[c] * 100:>12,.1f} %         (no target)",
              flush=True)
    for sample_id, label, predicted in result.errors:
        print(f"  missed: {sample_id} ({label} read as {predicted})", flush=True)
    return ok


if __name__ == "__main__":
    sys.exit(main())
