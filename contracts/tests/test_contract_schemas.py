"""JSON Schema is generated and exported for every event contract and the envelope."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.envelope import Event
from contracts.personal import personal_fields
from contracts.schemas import PERSONAL_KEY, event_schema, export, registered_events

pytestmark = pytest.mark.unit

EVENTS = registered_events()
IDS = [f"{t}.v{v}" for t, v in EVENTS]


def test_registered_events_include_every_contracts_module() -> None:
    producers = {cls.__module__ for cls in EVENTS.values()}
    assert {"contracts.accounts", "contracts.privacy"} <= producers
    assert EVENTS == dict(sorted(Event.registry.items()))


@pytest.mark.parametrize("key", list(EVENTS), ids=IDS)
def test_every_event_has_a_json_schema_marking_its_personal_fields(
    key: tuple[str, int],
) -> None:
    cls = EVENTS[key]
    schema = event_schema(cls)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(cls.model_fields)
    marked = {n: p[PERSONAL_KEY] for n, p in schema["properties"].items() if PERSONAL_KEY in p}
    assert marked == {n: p.category.value for n, p in personal_fields(cls).items()}
    json.dumps(schema)


def test_export_writes_one_schema_file_per_event_and_the_envelope(tmp_path: Path) -> None:
    written = export(tmp_path / "schemas")
    names = {p.name for p in written}
    assert names == {"envelope.schema.json"} | {f"{t}.v{v}.schema.json" for t, v in EVENTS}
    for path in written:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["type"] == "object"
        if path.name != "envelope.schema.json":
            assert doc["$id"] == path.name


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export(tmp_path / "b")}
    assert first == second


def test_schemas_export_runs_as_a_script(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "contracts.schemas", str(out)], check=True, capture_output=True,
        timeout=60,
    )
    assert (out / "envelope.schema.json").exists()
    assert len(list(out.glob("*.schema.json"))) == len(EVENTS) + 1


def test_committed_schema_files_match_the_models(tmp_path: Path) -> None:
    """``contracts/schemas/`` is what consumers outside Python read; `make schemas` renews it."""
    committed = Path(__file__).resolve().parents[1] / "schemas"
    fresh = {p.name: p.read_text(encoding="utf-8") for p in export(tmp_path)}
    stored = {p.name: p.read_text(encoding="utf-8") for p in committed.glob("*.json")}
    assert stored == fresh, "run `make schemas` and commit contracts/schemas/"
