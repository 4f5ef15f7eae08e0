"""Every event contract has a sample that parses, also when its subject is erased (AUD-1)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from pydantic import TypeAdapter

from contracts.envelope import Envelope, Event
from contracts.personal import ERASED, personal_fields
from contracts.schemas import registered_events
from contracts.topics import SERVICES
from kernel.codec import decode_event
from kernel.crypto import is_token
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).parent / "samples"
EVENTS = registered_events()
IDS = [f"{t}.v{v}" for t, v in EVENTS]
PERSONAL = {key: cls for key, cls in EVENTS.items() if personal_fields(cls)}
EVENT_TYPE_FORM = re.compile(r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*$")


def sample_path(event_type: str, version: int) -> Path:
    """Where the sample payload of one event type and version lives."""
    return SAMPLES / f"{event_type}.v{version}.json"


def load_sample(event_type: str, version: int) -> dict[str, Any]:
    """The sample payload, or a skip when it is missing (the sample test reports that)."""
    path = sample_path(event_type, version)
    if not path.exists():
        pytest.skip(f"no sample {path.name} (test_every_event_type_has_a_sample_that_parses)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("key", list(EVENTS), ids=IDS)
def test_every_event_type_has_a_sample_that_parses(key: tuple[str, int]) -> None:
    path = sample_path(*key)
    assert path.exists(), f"missing sample payload {path.relative_to(SAMPLES.parent)}"
    EVENTS[key].model_validate(json.loads(path.read_text(encoding="utf-8")))


def test_every_sample_belongs_to_a_registered_event_version() -> None:
    known = {sample_path(*key).name for key in EVENTS}
    orphans = sorted(p.name for p in SAMPLES.glob("*.json") if p.name not in known)
    assert orphans == [], f"samples of no registered event type/version: {orphans}"


@pytest.mark.parametrize("key", list(EVENTS), ids=IDS)
def test_event_type_is_a_stable_service_event_name(key: tuple[str, int]) -> None:
    cls = EVENTS[key]
    assert EVENT_TYPE_FORM.match(cls.event_type), cls.event_type
    assert cls.schema_version >= 1
    prefix = cls.event_type.split(".")[0]
    if cls.producer == "any":
        # Shared events (every service gives receipts) are named after their contract module.
        assert prefix == cls.__module__.rsplit(".", 1)[-1]
    else:
        assert cls.producer in SERVICES
        assert prefix == cls.producer


@pytest.mark.parametrize(
    ("key", "field"),
    [(key, name) for key, cls in PERSONAL.items() for name in personal_fields(cls)],
    ids=[f"{t}.v{v}.{name}" for (t, v), cls in PERSONAL.items() for name in personal_fields(cls)],
)
def test_aud1_every_personal_field_accepts_erased(key: tuple[str, int], field: str) -> None:
    annotation = EVENTS[key].model_fields[field].annotation
    assert annotation is not None
    assert TypeAdapter(annotation).validate_python(ERASED) == ERASED


@pytest.mark.parametrize("key", list(PERSONAL), ids=[f"{t}.v{v}" for t, v in PERSONAL])
def test_aud1_replay_of_an_erased_subject_parses_with_personal_fields_erased(
    key: tuple[str, int],
) -> None:
    cls = PERSONAL[key]
    payload = load_sample(*key)
    erased = {**payload, **{name: ERASED for name in personal_fields(cls)}}
    event = cls.model_validate(erased)
    assert all(getattr(event, name) == ERASED for name in personal_fields(cls))


def envelope_of(event: Event, subject: str) -> tuple[Envelope, InMemoryKeyStore]:
    """The envelope the kernel would publish for ``event`` (personal fields encrypted)."""
    keys = InMemoryKeyStore()
    store = EventStore(event.producer if event.producer != "any" else "accounts", keys)
    [rec] = asyncio.run(
        store.encode(f"stream-{subject}", StreamHead(), [NewEvent(event, subject)],
                     correlation_id=uuid4())
    )
    rec = dataclasses.replace(rec, position=1)
    return Envelope.model_validate_json(rec.envelope_bytes(store.schema)), keys


@pytest.mark.parametrize("key", list(EVENTS), ids=IDS)
def test_envelope_round_trips_and_carries_no_plaintext_personal_data(
    key: tuple[str, int],
) -> None:
    cls = EVENTS[key]
    original = cls.model_validate(load_sample(*key))
    subject = f"subject-{uuid4()}"
    envelope, keys = envelope_of(original, subject)

    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again == envelope
    assert (envelope.event_type, envelope.schema_version) == key
    assert envelope.subject_id == subject
    for name in personal_fields(cls):
        if getattr(original, name) is not None:
            assert is_token(envelope.payload[name]), f"{name} published in plaintext"

    key_of = asyncio.run(keys.keys_for_reading([subject]))[subject]
    decoded = decode_event(cls.event_type, cls.schema_version, dict(envelope.payload),
                           envelope.event_id, key_of)
    assert decoded == original
    shredded = decode_event(cls.event_type, cls.schema_version, dict(envelope.payload),
                            envelope.event_id, None)
    for name in personal_fields(cls):
        if getattr(original, name) is not None:
            assert getattr(shredded, name) == ERASED


def test_envelope_rejects_unknown_fields_and_positions_before_one() -> None:
    good = {
        "event_id": str(uuid4()), "event_type": "retention.SubjectKeyShredded",
        "schema_version": 1, "producer": "retention", "stream_id": "s", "version": 1,
        "position": 1, "occurred_at": "2025-01-01T00:00:00+00:00", "subject_id": None,
        "payload": {}, "prev_hash": "00" * 32, "hash": "11" * 32,
    }
    assert Envelope.model_validate_json(orjson.dumps(good)).position == 1
    with pytest.raises(ValueError, match="position"):
        Envelope.model_validate({**good, "position": 0})
    with pytest.raises(ValueError, match="extra"):
        Envelope.model_validate({**good, "surprise": True})
