"""Turns events into stored bytes and back: personal fields encrypted, erased ones as "erased"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from contracts.envelope import Event, event_class
from contracts.personal import ERASED, Personal, personal_fields
from kernel.crypto import DataKey, DecryptionError, is_token, token_scope

if TYPE_CHECKING:
    from kernel.keystore import KeyStore


class UnknownEventError(Exception):
    """A record names an event type or version this code does not know."""


@cache
def _personal(cls: type[Event]) -> tuple[tuple[str, Personal], ...]:
    return tuple(personal_fields(cls).items())


def has_personal_fields(cls: type[Event]) -> bool:
    """Whether an event type has any personal field (cached per type)."""
    return bool(_personal(cls))


@cache
def _expiring(cls: type[Event]) -> frozenset[str]:
    return frozenset(name for name, p in _personal(cls) if p.expiring)


def key_scope(category: str, occurred_at: datetime) -> str:
    """The scope of an expiring field's key: its category and UTC calendar month (MSG-3)."""
    at = occurred_at.astimezone(UTC)
    return f"{category}@{at.year:04d}-{at.month:02d}"


def scope_end(scope: str) -> datetime:
    """When a scope's period ends: the first instant of the month after it."""
    year, month = (int(x) for x in scope.rpartition("@")[2].split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def scopes_to_write(event: Event, occurred_at: datetime) -> set[str]:
    """The scoped keys an event needs to be sealed (empty for most events)."""
    expiring = _expiring(type(event))
    if not expiring:
        return set()
    return {
        key_scope(p.category.value, occurred_at)
        for name, p in _personal(type(event))
        if name in expiring and getattr(event, name) is not None
    }


def scopes_in(event_type: str, schema_version: int, payload: Mapping[str, Any]) -> set[str]:
    """The scoped keys a stored payload needs to be opened (empty for most events)."""
    try:
        expiring = _expiring(event_class(event_type, schema_version))
    except KeyError:
        return set()
    found = set()
    for name in expiring:
        scope = token_scope(payload.get(name))
        if scope is not None:
            found.add(scope)
    return found


def _aad(event_id: UUID | str, field: str) -> bytes:
    return f"{event_id}:{field}".encode()


def has_personal_data(event: Event) -> bool:
    """Whether the event carries any personal value (so it needs its subject's key)."""
    return any(getattr(event, name) is not None for name, _ in _personal(type(event)))


def encode_payload(
    event: Event, event_id: UUID, key: DataKey | None, occurred_at: datetime | None = None
) -> bytes:
    """Canonical JSON of the event with every personal field sealed under ``key``.

    An expiring field is sealed under the key of its scope (category and the month of
    ``occurred_at``), which ``key`` must carry.
    """
    data = event.model_dump(mode="json")
    for name, personal in _personal(type(event)):
        value = data.get(name)
        if value is None:
            continue
        if key is None:
            raise ValueError(f"{event.event_type}.{name} is personal data but no key was given")
        scope = None
        if personal.expiring:
            if occurred_at is None:
                raise ValueError(f"{event.event_type}.{name} expires: occurred_at is needed")
            scope = key_scope(personal.category.value, occurred_at)
        data[name] = key.seal(orjson.dumps(value), _aad(event_id, name), scope)
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


@dataclass(frozen=True, slots=True)
class SealedField:
    """One personal value as stored: sealed in the event ``event_id``'s field ``field``."""

    subject_id: str
    event_id: UUID | str
    field: str
    token: str


async def open_sealed(keys: KeyStore, items: Sequence[SealedField]) -> list[Any]:
    """Open stored tokens in one key look-up; "erased" where a key is gone (MSG-3, RET-5).

    For a projection that keeps personal values sealed, as its events carry them, and
    opens them on read: then destroying a key (erasure, or a period's end) makes them
    unreadable there too, with nothing to delete.
    """
    scopes: dict[str, set[str]] = {}
    for item in items:
        wanted = scopes.setdefault(item.subject_id, set())
        scope = token_scope(item.token)
        if scope is not None:
            wanted.add(scope)
    found = await keys.keys_for_reading(scopes, scopes={s: w for s, w in scopes.items() if w})
    out: list[Any] = []
    for item in items:
        key = found.get(item.subject_id)
        if key is None or not is_token(item.token):
            out.append(ERASED)
            continue
        try:
            out.append(orjson.loads(key.open(item.token, _aad(item.event_id, item.field))))
        except DecryptionError:
            out.append(ERASED)
    return out


def scopes_by_subject(
    records: Iterable[tuple[str | None, str, int, Mapping[str, Any]]],
) -> dict[str, set[str]]:
    """Scoped keys needed per subject for ``(subject_id, event_type, version, payload)``."""
    out: dict[str, set[str]] = {}
    for subject, event_type, version, payload in records:
        if subject:
            found = scopes_in(event_type, version, payload)
            if found:
                out.setdefault(subject, set()).update(found)
    return out
