"""The scanner engines, detector by detector, and the corpus targets (MSG-2)."""

from __future__ import annotations

import socket
from importlib import resources
from pathlib import Path

import pytest

from messaging.scanning import default_scanner
from messaging.scanning.api import Attachment, Scanner
from messaging.scanning.composite import CompositeScanner
from messaging.scanning.evaluation import eicar, evaluate, generate, load, zipped
from messaging.scanning.malware import MalwareScanner
from messaging.scanning.phishing import PhishingScanner, distance, skeleton
from messaging.scanning.prohibited import ProhibitedScanner
from messaging.scanning.spam import NaiveBayes, SpamScanner

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "scanner"
CORPUS = Path(str(resources.files("messaging.scanning.data").joinpath("corpus.jsonl")))
HOLDOUT = DATA / "holdout.jsonl"


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return default_scanner("secondjob.nl")


@pytest.fixture(scope="module")
def phishing() -> PhishingScanner:
    return PhishingScanner("secondjob.nl")


# --- malware (YARA) -----------------------------------------------------------------------

def test_msg2_eicar_plain_zipped_and_nested_is_blocked(scanner: Scanner) -> None:
    for content in (eicar(), zipped({"a.com": eicar()}),
                    zipped({"in.zip": zipped({"eicar.txt": eicar()})})):
        v = scanner.scan("Hierbij mijn cv.", [Attachment("cv.pdf", content)])
        assert v.outcome == "blocked"
        assert ("malware", "eicar") in {(r.detector, r.code) for r in v.reasons}


def test_msg2_harmless_attachments_pass() -> None:
    m = MalwareScanner()
    for kind in ("pdf", "png", "docx", "zip_docs"):
        assert m.scan([Attachment(f"file.{kind}", generate(kind))]) == [], kind


def test_msg2_executables_macros_and_unreadable_archives() -> None:
    m = MalwareScanner()
    assert [r.code for r in m.scan([Attachment("x.bin", generate("pe"))])] == ["pe_executable"]
    macro = m.scan([Attachment("rooster.docm", generate("macro"))])
    assert [(r.code, r.score) for r in macro] == [("office_macro", 0.6)]
    dropper = {r.code for r in m.scan([Attachment("setup.js", generate("dropper"))])}
    assert dropper == {"script_dropper", "executable_attachment"}
    broken = m.scan([Attachment("docs.zip", b"PK\x03\x04 not really a zip")])
    assert [r.code for r in broken] == ["archive_unreadable"]


def test_msg2_zip_bombs_and_deep_nesting_are_held_not_unpacked() -> None:
    m = MalwareScanner()
    bomb = zipped({"zeros.txt": b"\0" * 5_000_000})
    assert [r.code for r in m.scan([Attachment("b.zip", bomb)])] == ["archive_bomb"]
    deep = b"hello"
    for _ in range(5):
        deep = zipped({"inner.zip": deep})
    assert [r.code for r in m.scan([Attachment("d.zip", deep)])] == ["archive_too_deep"]


# --- phishing -----------------------------------------------------------------------------

def test_msg2_skeleton_and_distance() -> None:
    assert skeleton("rab0bank") == skeleton("rabobank")
    assert skeleton("seconcljob") == skeleton("secondjob")
    assert skeleton("p\u0430yp\u0430l") == "paypal"  # Cyrillic a
    assert distance("secondjob", "secnodjob", 2) == 1  # transposition
    assert distance("rabobank", "rabobnk", 2) == 1
    assert distance("abc", "xyzabc", 2) == 3  # capped


@pytest.mark.parametrize(("link", "code", "indicator"), [
    ("https://www.rab0bank.nl/x", "lookalike_domain", "rab0bank.nl"),
    ("https://xn--pple-43d.com/verify", "homoglyph_domain", "xn--pple-43d.com"),
    ("https://mijn-ing-verificatie.nl", "brand_in_domain", "mijn-ing-verificatie.nl"),
    ("https://ing.nl.security-check.io/login", "brand_in_subdomain", "security-check.io"),
    ("https://paypal-resolution-center.com", "brand_in_domain", "paypal-resolution-center.com"),
])
def test_msg2_lookalike_domains_name_the_registrable_domain(
        phishing: PhishingScanner, link: str, code: str, indicator: str) -> None:
    reasons, score = phishing.scan(f"Kijk even op {link}")
    assert score > 0
    assert [(r.code, r.indicators) for r in reasons] == [(code, (indicator,))]


@pytest.mark.parametrize("link", [
    "https://www.secondjob.nl/opdracht/1", "https://ing.nl", "www.booking.com",
    "https://github.com/annedev", "https://www.rabobank.nl/particulieren",
    "https://www.ah.nl/allerhande", "mail me at jan@secondjob.nl",
    "https://www.secondhand.nl", "https://seconds.com", "https://jobnet.nl/second",
])
def test_msg2_real_domains_are_not_lookalikes(phishing: PhishingScanner, link: str) -> None:
    assert phishing.scan(f"Zie {link} voor details") == ([], 0.0)


def test_msg2_public_suffix_list_is_the_shipped_snapshot(
        phishing: PhishingScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scanner must not use the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = PhishingScanner("secondjob.nl")
    reasons, _ = fresh.scan("https://barclays.co.uk.account-check.co.uk/x")
    assert reasons[0].indicators == ("account-check.co.uk",)


def test_msg2_platform_domain_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_PLATFORM_DOMAIN", "werkhuis.nl")
    own = default_scanner()
    assert own.scan("Zie https://www.werkhuis.nl/opdracht/3").outcome == "delivered"
    held = own.scan("Zie https://werkhu1s.nl/opdracht/3")
    assert held.outcome == "quarantined"
    assert any(r.indicators == ("werkhu1s.nl",) for r in held.reasons)


def test_issue28_the_platform_is_secondjob_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from messaging.scanning.settings import PlatformIdentity

    monkeypatch.delenv("MARKET_PLATFORM_DOMAIN", raising=False)
    monkeypatch.delenv("MARKET_PLATFORM_NAME", raising=False)
    assert (PlatformIdentity().name, PlatformIdentity().domain) == ("SecondJob", "secondjob.nl")
    own = default_scanner()
    assert own.scan("Zie https://www.secondjob.nl/opdracht/3").outcome == "delivered"
    assert own.scan("Zie https://secondjob.nl.account-check.com/x").outcome != "delivered"


CYRILLIC = "\u0455\u0435\u0441\u043endj\u043eb.nl"
"""``secondjob.nl`` with Cyrillic s, e, c and o."""


@pytest.mark.parametrize(("link", "indicator"), [
    ("https://secondjob.nl.evil.com/login", "evil.com"),
    ("http://www.secondjob.nl.uitbetaling-check.co.uk", "uitbetaling-check.co.uk"),
    ("https://secondjob.support/ticket", "secondjob.support"),
    ("https://secondjob.com/help", "secondjob.com"),
    ("https://help.secondjob-support.com", "secondjob-support.com"),
    ("https://mijn-secondjob.nl/uitbetaling", "mijn-secondjob.nl"),
    ("https://second-job.nl/login", "second-job.nl"),
    ("https://sec0ndj0b.nl", "sec0ndj0b.nl"),
    ("https://secondjobb.nl", "secondjobb.nl"),
    ("https://" + CYRILLIC + "/login", CYRILLIC),
    ("https://xn--secondjb-t4a.nl/login", "xn--secondjb-t4a.nl"),
    ("https://www.xn--secndjob-pbh.com/", "xn--secndjob-pbh.com"),
    ("https://login.secondjob.nl-verify.com", "nl-verify.com"),
])
def test_issue28_links_imitating_the_platform_are_phishing(
        scanner: Scanner, phishing: PhishingScanner, link: str, indicator: str) -> None:
    reasons, score = phishing.scan(f"Log in via {link}")
    assert ("platform_impersonation", (indicator,)) in [(r.code, r.indicators) for r in reasons]
    assert score >= phishing.weak
    assert scanner.scan(f"Je uitbetaling staat klaar: {link}").outcome != "delivered"
    assert scanner.scan(f"Log in via deze link {link} met je wachtwoord").outcome == "blocked"


def test_msg2_phishing_outcomes_strong_blocked_weak_quarantined(scanner: Scanner) -> None:
    strong = scanner.scan("Log in via deze link https://rab0bank.nl en vul je pincode in.")
    assert strong.outcome == "blocked"
    weak = scanner.scan("Nieuwe link: https://secondjob-support.com")
    assert weak.outcome == "quarantined"
    request = scanner.scan("Stuur je DigiD wachtwoord even door, dan regel ik het.")
    assert request.outcome == "quarantined"
    warning = scanner.scan("Let op: wij vragen nooit om je wachtwoord of pincode.")
    assert warning.outcome == "delivered"


def test_msg2_reasons_never_carry_the_matched_text(scanner: Scanner) -> None:
    body = "Stuur je pincode 4821 en IBAN NL91ABNA0417164300 via https://rab0bank.nl"
    v = scanner.scan(body)
    flat = " ".join(f"{r.code} {r.indicators}" for r in v.reasons)
    assert "4821" not in flat and "NL91" not in flat.upper() and "stuur" not in flat


# --- spam ---------------------------------------------------------------------------------

def test_msg2_naive_bayes_learns_from_its_samples() -> None:
    nb = NaiveBayes([("cheap pills buy now", True), ("free money now", True),
                     ("can you paint the kitchen", False), ("see you on monday", False)])
    assert nb.probability("buy cheap money") > 0.8
    assert nb.probability("paint the kitchen monday") < 0.2
    with pytest.raises(ValueError):
        NaiveBayes([("only spam", True)])


def test_msg2_spam_is_quarantined_with_its_score(scanner: Scanner) -> None:
    v = scanner.scan("Verdien 300 euro per dag vanuit huis!!! Meld je nu aan via Telegram.")
    assert v.outcome == "quarantined"
    codes = {r.code: r.score for r in v.reasons}
    assert codes["spam_score"] is not None and codes["spam_score"] >= SpamScanner().threshold
    assert "bayes" in codes
    assert scanner.scan("Kun je dinsdag de dakgoot komen repareren?").outcome == "delivered"


# --- prohibited ---------------------------------------------------------------------------

def test_msg2_prohibited_by_severity() -> None:
    p = ProhibitedScanner()
    assert [(r.code, r.score) for r in p.scan("Pistool te koop, geen vragen")] == [
        ("weapons", 1.0)]
    assert [(r.code, r.score) for r in p.scan("Je wordt zwart betaald.")] == [
        ("illegal_work", 0.6)]
    assert [r.code for r in p.scan("No foreigners please.")] == ["hiring_discrimination"]
    assert p.scan("Ik werk graag met collega's uit alle landen.") == []
    with pytest.raises(ValueError):
        ProhibitedScanner({"entries": [{"code": "x", "severity": "maybe", "patterns": ["x"]}]})


def test_msg2_composite_takes_the_most_severe_outcome(scanner: Scanner) -> None:
    assert isinstance(scanner, CompositeScanner)
    v = scanner.scan("Je wordt zwart betaald, en hier de lijst.", [Attachment("l.txt", eicar())])
    assert v.outcome == "blocked"
    assert {r.detector for r in v.reasons} == {"malware", "prohibited"}
    assert scanner.scan("Je wordt zwart betaald.").outcome == "quarantined"


def test_msg2_oversized_bodies_are_held_and_attachments_still_scanned(scanner: Scanner) -> None:
    long = "Offerte schilderwerk. " * 1_000
    v = scanner.scan(long)
    assert v.outcome == "quarantined"
    assert [r.code for r in v.reasons] == ["oversized_body"]
    assert scanner.scan(long, [Attachment("x.pdf", eicar())]).outcome == "blocked"


def test_msg2_link_extraction_is_linear_on_hostile_text() -> None:
    from messaging.scanning.text import hosts

    assert hosts("x." * 10_000) == []  # the old backtracking pattern took minutes here
    assert hosts("mail jan@klusmarkt.nl of zie http://u@evil.com:80/x (rabo-veilig.nl)") == [
        "evil.com", "rabo-veilig.nl"]


# --- the corpus meets the targets (quality, not timing) ------------------------------------

def test_msg2_corpus_meets_the_quality_targets(scanner: Scanner) -> None:
    samples = load(CORPUS)
    assert len(samples) >= 200
    assert {s.lang for s in samples} == {"nl", "en"}
    assert {s.label for s in samples} == {"ham", "spam", "phishing", "scam", "malware",
                                          "prohibited"}
    report = evaluate(scanner, samples)
    assert report.recall["scam"] >= 0.90, report.errors
    assert report.recall["phishing"] >= 0.95, report.errors
    assert report.recall["malware"] >= 0.95, report.errors
    assert report.ham_false_positive_rate <= 0.02, report.errors


def test_msg2_all_labelled_messages_meet_the_targets(scanner: Scanner) -> None:
    """Corpus and holdout together (the bench prints the holdout alone, never tuned on)."""
    report = evaluate(scanner, [*load(CORPUS), *load(HOLDOUT)])
    assert report.recall["phishing"] >= 0.95, report.errors
    assert report.recall["malware"] >= 0.95, report.errors
    assert report.ham_false_positive_rate <= 0.02, report.errors


def test_msg2_spam_training_set_is_apart_from_the_corpus() -> None:
    from messaging.scanning.spam import training_samples

    trained = {" ".join(t.split()) for t, _ in training_samples()}
    bodies = {" ".join(s.body.split()) for s in [*load(CORPUS), *load(HOLDOUT)]}
    assert not trained & bodies
