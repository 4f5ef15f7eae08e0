"""The records of processing (AUD-3) from the register and the log the auditor read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from contracts.envelope import Event, event_class
from contracts.personal import personal_fields
from retention.domain.records import CategoryUse, RecordsBasis, records
from retention.domain.register import DataRegister
from retention.service_layer.replay import LogEvent


def declared_categories() -> dict[str, set[str]]:
    """Per data category, the event types whose contracts carry it (every registered one)."""
    found: dict[str, set[str]] = defaultdict(set)
    for (event_type, _), cls in Event.registry.items():
        for p in personal_fields(cls).values():
            found[p.category.value].add(event_type)
    return dict(found)


def categories_used(events: Iterable[LogEvent]) -> dict[str, CategoryUse]:
    """Per data category, what the log shows: events whose payload holds a field of it."""
    used: dict[str, CategoryUse] = defaultdict(CategoryUse)
    fields_of: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for e in events:
        key = (e.event_type, e.schema_version)
        if key not in fields_of:
            try:
                cls = event_class(*key)
            except KeyError:
                fields_of[key] = []
            else:
                fields_of[key] = [(n, p.category.value)
                                  for n, p in personal_fields(cls).items()]
        seen = {cat for name, cat in fields_of[key] if e.payload.get(name) is not None}
        for cat in seen:
            used[cat].count(e.producer, e.event_type, e.subject_id, e.occurred)
    return dict(used)


def build_records(register: DataRegister, basis: RecordsBasis, events: list[LogEvent],
                  log: dict[str, Any]) -> dict[str, Any]:
    """The records of processing over ``events`` (``log`` says where they were read)."""
    return records(register, basis, categories_used(events), declared_categories(), log)
