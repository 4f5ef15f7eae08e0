"""The messaging service's consumer groups."""

from __future__ import annotations

from kernel.erasure import erasure_consumer
from kernel.service import ConsumerSpec
from messaging.service_layer.erasure import erase_subject


def consumers() -> list[ConsumerSpec]:
    """Every consumer group: for now the erasure order from retention (PRV-5)."""
    return [erasure_consumer(erase_subject)]
