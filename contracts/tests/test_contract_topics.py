"""Every service's topics exist with explicit partition counts."""

from __future__ import annotations

import pytest

from contracts.privacy import ERASURE_SERVICES
from contracts.topics import (
    PARTITIONS,
    SERVICES,
    TOPICS,
    TopicSpec,
    dead_letter_topic,
    events_topic,
)

pytestmark = pytest.mark.unit

BY_NAME = {t.name: t for t in TOPICS}


def test_topic_names_are_unique() -> None:
    assert len(BY_NAME) == len(TOPICS)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_an_events_and_a_dead_letter_topic(service: str) -> None:
    assert events_topic(service) == f"{service}.events.v1"
    assert dead_letter_topic(service) == f"{service}.dead-letter.v1"
    assert events_topic(service) in BY_NAME
    assert dead_letter_topic(service) in BY_NAME


@pytest.mark.parametrize("topic", TOPICS, ids=[t.name for t in TOPICS])
def test_every_topic_has_an_explicit_partition_count_and_a_description(
    topic: TopicSpec,
) -> None:
    assert isinstance(topic.partitions, int)
    assert topic.partitions >= 1
    assert topic.description


@pytest.mark.parametrize("service", SERVICES)
def test_service_topics_share_one_partition_count_so_keys_map_alike(service: str) -> None:
    assert BY_NAME[events_topic(service)].partitions == PARTITIONS
    assert BY_NAME[dead_letter_topic(service)].partitions == PARTITIONS


def test_prv5_every_service_asked_for_an_erasure_receipt_has_a_topic_to_give_it_on() -> None:
    assert set(ERASURE_SERVICES) <= set(SERVICES)


def test_prv5_every_service_holding_personal_data_is_asked_for_a_receipt_by_name() -> None:
    """Named one by one: a service dropped from the list would go unerased unnoticed by
    tests that only compare against the list itself."""
    assert ERASURE_SERVICES == ("accounts", "consent", "listings", "messaging", "retention")


def test_compacted_topics_are_only_the_declared_ones() -> None:
    compacted = {t.name for t in TOPICS if t.config.get("cleanup.policy") == "compact"}
    assert all(not name.endswith((".events.v1", ".dead-letter.v1")) for name in compacted)


@pytest.mark.parametrize("topic", TOPICS, ids=[t.name for t in TOPICS])
def test_every_topic_states_its_cleanup_and_retention(topic: TopicSpec) -> None:
    """No broker default is relied on: Kafka's is 7 days, which deletes what must stay."""
    assert topic.config["cleanup.policy"] in ("delete", "compact")
    assert "retention.ms" in topic.config
    assert "retention.bytes" in topic.config


def test_no_load_bearing_topic_has_a_finite_retention() -> None:
    """The epoch marker and every event are read from offset 0 for as long as the
    platform runs (kernel.relay, the auditor); the compacted topics keep each key's last
    record. Only dead letters expire."""
    for topic in TOPICS:
        if topic.name.endswith(".dead-letter.v1"):
            assert int(topic.config["retention.ms"]) > 0
            continue
        assert topic.config["retention.ms"] == "-1", topic.name
        assert topic.config["retention.bytes"] == "-1", topic.name
