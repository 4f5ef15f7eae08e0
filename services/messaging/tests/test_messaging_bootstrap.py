"""The messaging service's composition root: its consumers and its scanner (PRV-5, MSG-2)."""

from __future__ import annotations

import pytest

from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from messaging import bootstrap, scanning
from messaging.config import MessagingSettings

pytestmark = pytest.mark.unit

KEY = "A" * 43 + "="


def test_messaging_service_consumes_erasure_orders_from_retention() -> None:
    host = bootstrap.build(MessagingSettings(  # type: ignore[call-arg]
        secrets={"master_key": KEY, "index_key": KEY}, internal_auth={"internal_key": KEY}))
    assert host.name == "messaging"
    assert host.settings.http_port == 8104
    specs = {s.name: s for s in host.consumer_specs}
    assert set(specs) == {"erasure", "accounts", "listings"}
    assert list(specs["erasure"].topics) == [events_topic("retention")]
    assert list(specs["erasure"].event_types or ()) == [SubjectKeyShredded.event_type]
    assert list(specs["listings"].topics) == [events_topic("listings")]
    assert specs["accounts"].decrypt  # the public username for SEC-3 notices


def test_msg2_without_scanner_engines_every_message_waits_for_review() -> None:
    scanner = bootstrap.default_scanner()
    if hasattr(scanning, "default_scanner"):
        pytest.skip("the scanner engines are installed; their own tests cover them")
    assert scanner.scan("hello", ()).outcome == "quarantined"


def test_msg2_a_scanner_that_cannot_start_holds_every_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise OSError("no signature database")

    monkeypatch.setattr(scanning, "default_scanner", broken, raising=False)
    assert isinstance(bootstrap.default_scanner(), bootstrap.HoldEverything)
