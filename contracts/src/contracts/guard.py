"""Events of the contact guard every service runs (CNS-7), each on its own service's topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.envelope import Event


class ContactRefused(Event):
    """A service's contact guard refused a communication or personalisation (CNS-7).

    Only the subject, the purpose, the channel and the reason: nothing else.
    """

    event_type: ClassVar[str] = "guard.ContactRefused"
    producer: ClassVar[str] = "any"

    subject_id: str = Field(description="Whom the communication was for.")
    purpose: str = Field(description="Purpose slug.")
    channel: str | None = Field(description="Channel, or null for personalisation.")
    reason: str = Field(description="Stable reason code, e.g. not_granted, restricted.")
