"""The envelope every stored and published event travels in, and the event base class."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """Base of every event payload: a past-tense fact, versioned by ``schema_version``.

    Subclasses set ``event_type`` (a stable string, never a Python path),
    ``schema_version`` and ``producer`` (the owning service).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    producer: ClassVar[str]
    registry: ClassVar[dict[tuple[str, int], type[Event]]] = {}
    folds_into: ClassVar[tuple[str, str] | None] = None
    """Where a replay folds the event into its stream's state, as the owning service's
    aggregate applies it (AUD-1): ``None`` for the aggregate's own fields, or
    ``(collection, key field)`` for an entity the aggregate holds (a session, a device)."""
    ends_entity: ClassVar[bool] = False
    """Whether the event ends the entity it folds into (a session ended, a device removed)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            key = (cls.event_type, cls.schema_version)
            if key in Event.registry and Event.registry[key] is not cls:
                raise TypeError(f"event type {key} registered twice")
            Event.registry[key] = cls


class Envelope(BaseModel):
    """Metadata plus payload, exactly as stored in an event store and published to Kafka.

    Personal fields inside ``payload`` are ciphertext tokens, never plaintext.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: UUID = Field(description="Unique id of this event; consumers dedupe on it.")
    event_type: str = Field(description="Stable name of the event type.")
    schema_version: int = Field(ge=1, description="Version of the payload schema.")
    producer: str = Field(description="Service whose event store holds the event.")
    stream_id: str = Field(description="Aggregate stream the event belongs to.")
    version: int = Field(ge=1, description="Position within its stream (1-based).")
    position: int = Field(ge=1, description="Global position in the producer's event store.")
    occurred_at: datetime = Field(description="When the fact happened (UTC).")
    subject_id: str | None = Field(description="Data subject whose personal data it holds.")
    correlation_id: UUID | None = Field(None, description="Request that started the flow.")
    causation_id: UUID | None = Field(None, description="Event or command that caused it.")
    payload: dict[str, Any] = Field(description="Event fields; personal ones encrypted.")
    prev_hash: str = Field(description="Hex SHA-256 of the previous event in the stream.")
    hash: str = Field(description="Hex SHA-256 chaining this event to the previous one.")


def event_class(event_type: str, schema_version: int) -> type[Event]:
    """Look up a registered event type; raises ``KeyError`` for unknown ones."""
    return Event.registry[(event_type, schema_version)]
