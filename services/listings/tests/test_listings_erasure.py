"""The listings service erases a subject and gives its receipt (PRV-5)."""

from __future__ import annotations

import pytest

from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from kernel.service import Runtime
from listings import bootstrap
from listings.adapters.projections import PROJECTIONS
from listings.config import ListingsSettings
from listings.service_layer.erasure import NOTHING_HELD, erase_subject

pytestmark = pytest.mark.unit

KEY = "A" * 43 + "="


class NoRows:
    """A connection on which no table holds a row of the subject."""

    async def fetchval(self, sql: str, *args: object) -> int:
        return 0


async def test_prv5_listings_without_personal_data_receipts_nothing_held() -> None:
    rt = Runtime.__new__(Runtime)
    rt.name = "listings"
    assert await erase_subject(rt, NoRows(), "subject-1") == (False, NOTHING_HELD)
    assert all(t.subject_column for t in PROJECTIONS if "personal" in t.ddl)


def test_listings_service_consumes_erasure_orders_from_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_SECRETS_INTERNAL_KEY", KEY)
    host = bootstrap.build(ListingsSettings(secrets={"master_key": KEY, "index_key": KEY}))
    assert host.name == "listings"
    assert host.settings.http_port == 8103
    [spec] = [s for s in host.consumer_specs if s.name == "erasure"]
    assert list(spec.topics) == [events_topic("retention")]
    assert list(spec.event_types or ()) == [SubjectKeyShredded.event_type]
