"""The consent service erases a subject and gives its receipt (PRV-5)."""

from __future__ import annotations

import pytest

from consent import bootstrap
from consent.adapters.projections import PROJECTIONS
from consent.config import ConsentSettings
from consent.service_layer.erasure import NOTHING_HELD, erase_subject
from contracts.privacy import SubjectKeyShredded
from contracts.topics import events_topic
from kernel.service import Runtime

pytestmark = pytest.mark.unit

KEY = "A" * 43 + "="


class NoRows:
    """A connection on which no table holds a row of the subject."""

    async def fetchval(self, sql: str, *args: object) -> int:
        return 0


async def test_prv5_consent_without_personal_data_receipts_nothing_held() -> None:
    rt = Runtime.__new__(Runtime)
    rt.name = "consent"
    assert await erase_subject(rt, NoRows(), "subject-1") == (False, NOTHING_HELD)
    assert all(t.subject_column for t in PROJECTIONS if "personal" in t.ddl)


def test_consent_service_consumes_erasure_orders_from_retention() -> None:
    host = bootstrap.build(ConsentSettings(secrets={"master_key": KEY, "index_key": KEY}))
    assert host.name == "consent"
    assert host.settings.http_port == 8102
    specs = {spec.name: spec for spec in host.consumer_specs}
    assert list(specs["erasure"].topics) == [events_topic("retention")]
    assert list(specs["erasure"].event_types or ()) == [SubjectKeyShredded.event_type]
