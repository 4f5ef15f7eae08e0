"""Who may write each topic and publish each event type (issue 26): the map consumers check."""

from __future__ import annotations

import pytest

import contracts.accounts
import contracts.consent
import contracts.guard
import contracts.listings
import contracts.messaging
import contracts.privacy
import contracts.staff  # noqa: F401 - every event type registered
from contracts.envelope import Event
from contracts.topics import (
    SERVICES,
    TOPIC_PRODUCERS,
    TOPICS,
    dead_letter_topic,
    events_topic,
    owns_event_type,
    owns_topic,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_alone_writes_its_own_topics(service: str) -> None:
    for topic in (events_topic(service), dead_letter_topic(service)):
        assert [s for s in SERVICES if owns_topic(s, topic)] == [service]


def test_every_owned_topic_is_a_platform_topic() -> None:
    assert set(TOPIC_PRODUCERS) <= {t.name for t in TOPICS}


def test_every_event_type_belongs_to_the_producer_its_contract_names() -> None:
    for (event_type, _), cls in Event.registry.items():
        owners = [s for s in SERVICES if owns_event_type(s, event_type)]
        expected = list(SERVICES) if cls.producer == "any" else [cls.producer]
        assert owners == expected, event_type


@pytest.mark.parametrize(("event_type", "owner"), [
    ("accounts.StaffRoleGranted", "accounts"),
    ("retention.SubjectKeyShredded", "retention"),
    ("retention.SubjectExportOrdered", "retention"),
    ("consent.ConsentDecisionRecorded", "consent"),
    ("retention.LegalHoldPlaced", "retention"),
])
def test_control_events_have_one_producer(event_type: str, owner: str) -> None:
    assert [s for s in SERVICES if owns_event_type(s, event_type)] == [owner]


def test_unknown_namespaces_belong_to_nobody() -> None:
    assert not any(owns_event_type(s, "platform.Anything") for s in SERVICES)
    assert not any(owns_event_type(s, "StaffRoleGranted") for s in SERVICES)
