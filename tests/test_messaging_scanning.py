"""MSG-2 through the service's own composition root and its scanner.

The engine tests run once ``messaging.scanning.default_scanner`` is installed (the scanner
engines of issue 14); until then the service quarantines every message, tested here too.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from messaging_market import Messaging, running

from contracts.messaging import MessageScanned
from messaging import scanning
from messaging.config import MessagingSettings

pytestmark = pytest.mark.e2e

ENGINES = hasattr(scanning, "default_scanner")
needs_engines = pytest.mark.skipif(
    not ENGINES, reason="the scanner engines (messaging.scanning.default_scanner) are not "
    "merged yet")

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module")
async def real(infra: Any) -> AsyncIterator[Messaging]:
    """The market with the messaging service's default scanner."""
    async with running(infra.kafka_bootstrap, MessagingSettings(),  # type: ignore[call-arg]
                       None) as market:
        yield market


@pytest.mark.skipif(ENGINES, reason="the scanner engines are installed")
async def test_msg2_without_engines_nothing_is_delivered_unscanned(real: Messaging) -> None:
    owner, writer = await real.sign_up(), await real.sign_up()
    cid = await real.conversation(writer, owner, await real.listing(owner))
    resp = await real.send(writer, cid, "Hoi, is de vacature nog beschikbaar?")
    assert resp.status_code == 201 and resp.json()["verdict"] == "quarantined"
    assert (await real.read(owner, cid)).json()["items"] == []


@needs_engines
async def test_msg2_eicar_as_an_attachment_is_never_delivered(real: Messaging) -> None:
    owner, writer = await real.sign_up(), await real.sign_up()
    cid = await real.conversation(writer, owner, await real.listing(owner))
    resp = await real.send(writer, cid, "Hierbij mijn cv", [
        {"filename": "cv.com", "content_base64": base64.b64encode(EICAR).decode()}])
    assert resp.status_code == 201, resp.text
    sent = resp.json()
    assert sent["verdict"] in ("blocked", "quarantined")
    assert (await real.read(owner, cid)).json()["items"] == []
    scanned = await real.published(MessageScanned.event_type,
                                   lambda p: p["message_id"] == sent["message_id"],
                                   "the verdict on Kafka")
    assert any(r["detector"] == "malware" for r in scanned.payload["reasons"])


@needs_engines
async def test_msg2_a_lookalike_domain_link_is_quarantined_or_blocked(real: Messaging) -> None:
    owner, writer = await real.sign_up(), await real.sign_up()
    cid = await real.conversation(writer, owner, await real.listing(owner))
    ham = await real.send(writer, cid, "Hoi, is de vacature nog beschikbaar? Groet, Sanne")
    assert ham.json()["verdict"] == "delivered"
    phish = await real.send(writer, cid, "Uw rekening is geblokkeerd. Log direct in via "
                            "https://www.rab0bank.nl/inloggen om uw pas te activeren.")
    assert phish.json()["verdict"] in ("quarantined", "blocked")
    bodies = [m["body"] for m in (await real.read(owner, cid)).json()["items"]]
    assert bodies == ["Hoi, is de vacature nog beschikbaar? Groet, Sanne"]
    scanned = await real.published(MessageScanned.event_type,
                                   lambda p: p["message_id"] == phish.json()["message_id"],
                                   "the phishing verdict on Kafka")
    assert any(r["detector"] == "phishing" for r in scanned.payload["reasons"])
