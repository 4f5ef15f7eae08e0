"""The job-scam detector (issue 28, MSG-2): each typology held with its rule code, harmless
talk about money delivered, the reasons free of the text."""

from __future__ import annotations

import pytest

from messaging.scanning import default_scanner
from messaging.scanning.api import Scanner
from messaging.scanning.scam import ScamScanner

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return default_scanner("secondjob.nl")


@pytest.mark.parametrize(("code", "body"), [
    ("money_mule", "Het geld komt op jouw rekening binnen en dat boek je dezelfde dag door."),
    ("money_mule", "Money will be paid into your account, you transfer it on to my cousin."),
    ("advance_fee", "Je moet eerst 35 euro voor het uniform betalen voordat je begint."),
    ("advance_fee", "Pay the activation fee first, then you get your schedule."),
    ("gift_card_codes", "Koop twee Steam kaarten en stuur me de codes."),
    ("crypto_task", "Rate hotels in our app, commission paid in USDT after each task."),
    ("task_unlock", "Om de volgende taken te ontgrendelen moet je eerst bijstorten."),
    ("id_selfie", "Maak een selfie met je rijbewijs ernaast voor de registratie."),
    ("lend_bank_card", "Wil je je pinpas verhuren? 100 euro per week."),
    ("login_handover", "Give me your DigiD and I'll arrange everything."),
    ("parcel_reshipping", "Receive parcels at home and forward them with the new labels we send."),
    ("verification_payment", "Maak 1 cent over om je rekening te verifiëren."),
    ("pyramid", "Koop het pakket en werf vrienden, je verdient aan hun omzet."),
])
def test_issue28_each_typology_is_a_scam_held_with_its_code(
        scanner: Scanner, code: str, body: str) -> None:
    verdict = scanner.scan(body)
    assert verdict.outcome != "delivered", body  # quarantined; blocked where prohibited too
    assert ("scam", code) in {(r.detector, r.code) for r in verdict.reasons}


@pytest.mark.parametrize("body", [
    "Ik heb mijn bankpas verloren, dus ik betaal de borg voor de sleutel contant bij het ophalen.",
    "I lost my bank card, so I'll pay the key deposit in cash when I collect the key.",
    "Je loon wordt overgemaakt op je rekening, vul je IBAN in op het formulier.",
    "Neem je paspoort mee naar kantoor, we controleren het in persoon.",
    "Deel nooit je pincode of DigiD, ook niet met ons.",
    "Can you send a Tikkie for the lunch?",
    "We sort parcels in the warehouse from 7 to 3.",
])
def test_issue28_harmless_talk_about_money_and_ids_is_delivered(
        scanner: Scanner, body: str) -> None:
    assert scanner.scan(body).outcome == "delivered", body


def test_issue28_weak_signals_add_up_and_reasons_hold_no_text() -> None:
    s = ScamScanner()
    total, reasons = s.score("I paid too much by mistake, please send the difference back.")
    assert total < s.threshold and [r.code for r in reasons] == ["overpayment_refund"]
    assert s.scan("I paid too much by mistake, please send the difference back.") == []
    both = s.scan("Per ongeluk te veel betaald, betaal het verschil terug via deze betaallink.")
    assert {r.code for r in both} == {"overpayment_refund", "payment_link"}
    assert all("betaal" not in r.code and not r.indicators for r in both)


def test_issue28_a_safety_warning_is_not_a_scam() -> None:
    s = ScamScanner()
    assert s.scan("Stuur nooit een foto van je paspoort via de chat.") == []
    assert [r.code for r in s.scan("Stuur een foto van je paspoort via de chat, "
                                   "en maak eerst 1 cent over.")] == [
        "id_copy_request", "verification_payment"]
