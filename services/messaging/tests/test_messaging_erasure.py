"""The messaging service erases a subject and gives its receipt (PRV-5)."""

from __future__ import annotations

import pytest

from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from kernel.service import Runtime
from messaging import bootstrap
from messaging.adapters.projections import PROJECTIONS
from messaging.config import MessagingSettings
from messaging.service_layer.erasure import NOTHING_HELD, erase_subject

pytestmark = pytest.mark.unit

KEY = "A" * 43 + "="


class NoRows:
    """A connection on which no table holds a row of the subject."""

    async def fetchval(self, sql: str, *args: object) -> int:
        return 0


async def test_prv5_messaging_without_personal_data_receipts_nothing_held() -> None:
    rt = Runtime.__new__(Runtime)
    rt.name = "messaging"
    assert await erase_subject(rt, NoRows(), "subject-1") == (False, NOTHING_HELD)


def test_prv5_every_table_is_erased_by_subject_but_the_shared_ones() -> None:
    shared = {t.name for t in PROJECTIONS if t.subject_column is None}
    # conversations and messages stay for the other participant, bodies unreadable (API.md)
    assert shared == {"conversations", "messages", "intake_log"}


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
    from messaging import scanning

    if hasattr(scanning, "default_scanner"):
        pytest.skip("the scanner engines are installed; their own tests cover them")
    assert scanner.scan("hello", ()).outcome == "quarantined"
