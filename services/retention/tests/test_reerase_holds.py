"""RET-4, RET-5: after a cluster's database is restored, ``marketplace-reerase`` keeps the
keys of a category a legal hold on the log still holds, and only those."""

from __future__ import annotations

import orjson
import pytest

from contracts.topics import events_topic
from retention.reerase import held_on

pytestmark = pytest.mark.unit

TOPIC = events_topic("retention")


def _rec(event_type: str, **payload: object) -> tuple[str, bytes]:
    return TOPIC, orjson.dumps({"event_type": event_type, "payload": payload})


def test_only_holds_still_placed_on_categories_with_keys_of_their_own_are_kept() -> None:
    records = [
        _rec("retention.LegalHoldPlaced", hold_id="h1", subject_id="a", category="listings"),
        _rec("retention.LegalHoldPlaced", hold_id="h2", subject_id="a", category="messages"),
        _rec("retention.LegalHoldPlaced", hold_id="h3", subject_id="b", category="identity"),
        _rec("retention.LegalHoldPlaced", hold_id="h4", subject_id="c", category=None),
        _rec("retention.LegalHoldReleased", hold_id="h2", subject_id="a"),
        ("accounts.events.v1", orjson.dumps({"event_type": "retention.LegalHoldPlaced",
                                             "payload": {"hold_id": "x", "subject_id": "d",
                                                         "category": "listings"}})),
        (TOPIC, None),
    ]
    assert held_on(records) == {"a": {"listings"}}
