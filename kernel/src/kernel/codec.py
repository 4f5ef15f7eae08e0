"""Turns events into stored bytes and back: personal fields encrypted, erased ones as "erased"."""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

import orjson

from contracts.envelope import Event, event_class
from contracts.personal import ERASED, Personal, personal_fields
from kernel.crypto import DataKey, DecryptionError, is_token


class UnknownEventError(Exception):
    """A record names an event type or version this code does not know."""


@cache
def _personal(cls: type[Event]) -> tuple[tuple[str, Personal], ...]:
    return tuple(personal_fields(cls).items())


def _aad(event_id: UUID | str, field: str) -> bytes:
    return f"{event_id}:{field}".encode()


def has_personal_data(event: Event) -> bool:
    """Whether the event carries any personal value (so it needs its subject's key)."""
    return any(getattr(event, name) is not None for name, _ in _personal(type(event)))


def encode_payload(event: Event, event_id: UUID, key: DataKey | None) -> bytes:
    """Canonical JSON of the event with every personal field sealed under ``key``."""
    data = event.model_dump(mode="json")
    for name, _ in _personal(type(event)):
        value = data.get(name)
        if value is None:
            continue
        if key is None:
            raise ValueError(f"{event.event_type}.{name} is personal data but no key was given")
        data[name] = key.seal(orjson.dumps(value), _aad(event_id, name))
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def decode_fields(
    event_type: str, schema_version: int, payload: dict[str, Any], event_id: UUID | str,
    key: DataKey | None,
) -> dict[str, Any]:
    """Decrypt the personal fields of a payload in place; "erased" where the key is gone."""
    try:
        cls = event_class(event_type, schema_version)
    except KeyError as exc:
        raise UnknownEventError(f"{event_type} v{schema_version}") from exc
    for name, _ in _personal(cls):
        value = payload.get(name)
        if not isinstance(value, str) or not is_token(value):
            continue
        if key is None:
            payload[name] = ERASED
            continue
        try:
            payload[name] = orjson.loads(key.open(value, _aad(event_id, name)))
        except DecryptionError:
            payload[name] = ERASED
    return payload


def decode_event(
    event_type: str, schema_version: int, payload: bytes | dict[str, Any], event_id: UUID,
    key: DataKey | None,
) -> Event:
    """The typed event, decrypted with ``key`` (``None``: personal fields read "erased")."""
    data = orjson.loads(payload) if isinstance(payload, bytes | bytearray | memoryview) else payload
    fields = decode_fields(event_type, schema_version, data, event_id, key)
    return event_class(event_type, schema_version).model_validate(fields)
