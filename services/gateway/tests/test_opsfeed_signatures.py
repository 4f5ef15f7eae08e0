"""The ops feed folds only records their topic's producer signed (issue 26)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gateway.opsfeed import OpsFeed
from kernel.signing import EventSigner, EventVerifier

pytestmark = pytest.mark.unit

ROOT = b"o" * 32
TOPIC = "retention.events.v1"


@dataclass
class Rec:
    topic: str
    value: bytes
    key: bytes | None = b"s"
    timestamp: int = 0
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)


def request(rid: str, event_type: str = "retention.PrivacyRequestReceived") -> Rec:
    now = datetime.now(UTC)
    value = orjson.dumps({"event_type": event_type, "occurred_at": now.isoformat(),
                          "payload": {"request_id": rid, "type": "erasure",
                                      "due_at": (now + timedelta(days=30)).isoformat()}})
    return Rec(TOPIC, value, timestamp=int(now.timestamp() * 1000),
               headers=[("event_type", event_type.encode())])


def signed(rec: Rec, producer: str = "retention") -> Rec:
    rec.headers = [*rec.headers, EventSigner(ROOT, producer).header(rec.topic, rec.key,
                                                                    rec.value)]
    return rec


def test_forged_records_are_counted_as_refused_and_folded_into_nothing() -> None:
    feed = OpsFeed("unused:9092", EventVerifier(ROOT))
    feed.take(signed(request("genuine")))
    feed.take(request("unsigned"))
    feed.take(signed(request("by-listings"), "listings"))
    feed.take(signed(request("foreign", "accounts.StaffRoleGranted")))
    feed.take(Rec("platform.broker-epoch.v1", b"marker"))  # not a service's topic
    snap = feed.figures.snapshot()
    assert [r["request_id"] for r in snap["privacy_requests"]["queue"]] == ["genuine"]
    assert snap["forged_records_refused"] == {TOPIC: 3}
    assert snap["topics"][TOPIC]["total"] == 1
