"""The Kafka topics of the platform, with their explicit partition counts."""

from __future__ import annotations

from dataclasses import dataclass, field

PARTITIONS = 4
"""Every event topic has this many partitions; records are keyed by data-subject id.

Four is also what a Kafka-API broker gives a topic it re-creates on its own, so a topic
silently re-created after a broker restart keeps the same key-to-partition mapping.
"""


@dataclass(frozen=True)
class TopicSpec:
    """A topic the platform creates before any service starts."""

    name: str
    partitions: int = PARTITIONS
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""


SERVICES = ("accounts", "consent", "listings", "messaging", "retention")
"""Services that own an event topic (the gateway owns none)."""


def events_topic(service: str) -> str:
    """The topic a service publishes its events to."""
    return f"{service}.events.v1"


EPOCH_TOPIC = "platform.broker-epoch.v1"
"""Holds one marker record; relays compare it with the one they last saw (see kernel.relay)."""


def dead_letter_topic(service: str) -> str:
    """The topic a service's consumers send poison messages to, with the reason."""
    return f"{service}.dead-letter.v1"


KEEP_FOREVER = {"retention.ms": "-1"}
"""The event topics are the platform's record: auditors replay them from the start, and the
retention topic's erasure orders are the record of erasures that a restore of PostgreSQL
from a backup cannot roll back (``marketplace-reerase``). Erased personal data in them is
unreadable once its key is gone, so keeping them does not keep it."""

TOPICS: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(events_topic(s), config=dict(KEEP_FOREVER),
                  description=f"Every event of the {s} service, keyed by subject.")
        for s in SERVICES
    ),
    *(
        TopicSpec(dead_letter_topic(s), description=f"Messages the {s} service could not process.")
        for s in SERVICES
    ),
    TopicSpec(
        "platform.broker-epoch.v1",
        partitions=1,
        description="One random marker at offset 0; a new marker means the broker lost its data.",
    ),
    TopicSpec(
        "accounts.public-profiles.v1",  # contracts.accounts.PUBLIC_PROFILES_TOPIC
        config={"cleanup.policy": "compact"},
        description="Latest public username per account (compacted; tombstoned on erasure).",
    ),
    TopicSpec(
        "platform.stream-heads.v1",  # STREAM_HEADS_TOPIC
        partitions=1,
        config={"cleanup.policy": "compact"},
        description="Each stream's sealed head (version, hash, HMAC), keyed by stream: the "
        "auditor finds events cut from the end of a stream (AUD-2).",
    ),
)

STREAM_HEADS_TOPIC = "platform.stream-heads.v1"
"""Where ``marketplace-audit seal`` publishes each stream's signed head."""

TOPIC_PRODUCERS: dict[str, str] = {
    **{events_topic(s): s for s in SERVICES},
    **{dead_letter_topic(s): s for s in SERVICES},
    "accounts.public-profiles.v1": "accounts",
}
"""The one service that may write each service-owned topic: a consumer accepts a record of
one of these topics only when it is signed by this producer (``kernel.signing``), and the
broker's ACLs in ``deploy/`` let only this service write it."""

SHARED_EVENT_NAMESPACES = frozenset({"guard", "privacy"})
"""Event types every service records in its own store: the contact guard's refusals, its
erasure and retention receipts and its part of an export (``contracts.guard``,
``contracts.privacy``)."""

EVENT_TYPE_OWNERS: dict[str, frozenset[str]] = {
    **{s: frozenset({s}) for s in SERVICES},
    **{ns: frozenset(SERVICES) for ns in SHARED_EVENT_NAMESPACES},
}
"""Who may produce the event types of each namespace (an event type's name up to its first
dot, ``accounts.StaffRoleGranted`` -> ``accounts``): only accounts grants staff roles, only
retention shreds keys or orders exports, whoever signs a record of its own topic."""


def owns_topic(producer: str, topic: str) -> bool:
    """Whether ``producer`` is the service that writes ``topic``."""
    return TOPIC_PRODUCERS.get(topic) == producer


def owns_event_type(producer: str, event_type: str) -> bool:
    """Whether ``producer`` may publish events of ``event_type``."""
    return producer in EVENT_TYPE_OWNERS.get(event_type.partition(".")[0], ())
