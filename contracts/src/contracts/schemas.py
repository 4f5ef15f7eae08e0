"""JSON Schema of every event contract, for consumers outside Python and for review.

``python -m contracts.schemas <dir>`` writes one ``<event_type>.v<version>.schema.json``
per registered event plus ``envelope.schema.json``. Personal fields carry
``"x-personal-data": "<category>"`` so a reader sees what the kernel encrypts.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import contracts
from contracts.envelope import Envelope, Event
from contracts.personal import personal_fields

PERSONAL_KEY = "x-personal-data"
"""Schema keyword naming the data category of a personal field (RET-1)."""


def registered_events() -> dict[tuple[str, int], type[Event]]:
    """Every event type of every contracts module, by ``(event_type, schema_version)``."""
    for module in pkgutil.iter_modules(contracts.__path__, "contracts."):
        importlib.import_module(module.name)
    return dict(sorted(Event.registry.items()))


def event_schema(cls: type[Event]) -> dict[str, Any]:
    """The JSON Schema of one event's payload, with its identity and personal fields marked."""
    schema = cls.model_json_schema()
    schema["$id"] = f"{cls.event_type}.v{cls.schema_version}.schema.json"
    schema["x-event-type"] = cls.event_type
    schema["x-schema-version"] = cls.schema_version
    schema["x-producer"] = cls.producer
    for name, marker in personal_fields(cls).items():
        schema["properties"][name][PERSONAL_KEY] = marker.category.value
    return schema


def export(directory: str | Path) -> list[Path]:
    """Write the schema of every event and of the envelope into ``directory``.

    Returns:
        The files written, envelope first.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    docs: dict[str, dict[str, Any]] = {"envelope": Envelope.model_json_schema()}
    for (event_type, version), cls in registered_events().items():
        docs[f"{event_type}.v{version}"] = event_schema(cls)
    written = []
    for stem, schema in docs.items():
        path = out / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "schemas"
    for written_path in export(target):
        print(written_path)
