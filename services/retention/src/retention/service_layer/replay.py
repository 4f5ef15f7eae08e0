"""Hash-chain verification (AUD-2) and state reconstruction (AUD-1) over the event log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import orjson

from contracts.envelope import Event
from contracts.personal import credential_fields, withhold_credentials
from kernel.codec import UnknownEventError, decode_fields, has_personal_fields
from kernel.crypto import DataKey, is_token
from kernel.eventstore import GENESIS, chain_hash, header_text


class LogEvent(msgspec.Struct, gc=False):
    """One envelope read from the log (payload still as published)."""

    producer: str
    stream_id: str
    version: int
    event_id: str
    event_type: str
    schema_version: int
    subject_id: str | None
    occurred: str = msgspec.field(name="occurred_at")
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    position: int = 0
    digest_ok: bool | None = None
    """Whether the hash matched the content: checked over the published bytes when the
    envelope was parsed (``None``: not checked yet, :func:`intact` checks the payload)."""
    plain: dict[str, Any] | None = None
    """The decrypted payload, when a worker process decrypted it already."""

    @classmethod
    def parse(cls, value: bytes) -> LogEvent:
        """Parse an envelope and check its hash over the payload bytes as published (the
        stored bytes, embedded verbatim); raises ``ValueError`` on anything else."""
        ev = _WIRE.decode(value)
        raw = bytes(ev.payload)
        payload = orjson.loads(raw)
        if type(payload) is not dict:
            raise ValueError("not an envelope: the payload is not an object")
        ev.payload = payload  # type: ignore[assignment]
        try:
            prev = bytes.fromhex(ev.prev_hash)
        except ValueError:
            ev.digest_ok = False
            return ev
        header = header_text(ev.event_id, ev.event_type, ev.schema_version, ev.stream_id,
                             ev.version, ev.subject_id, ev.occurred)
        # Bytes re-encoded on the way (same content, other layout) are checked as stored.
        ev.digest_ok = chain_hash(prev, header, raw).hex() == ev.hash or intact(ev)
        return ev

    @property
    def occurred_at(self) -> datetime:
        """When the event occurred."""
        return datetime.fromisoformat(self.occurred)

    def has_tokens(self) -> bool:
        """Whether any payload field is an encrypted personal value."""
        return any(is_token(v) for v in self.payload.values())


class _Wire(LogEvent, gc=False):
    """An envelope as decoded: the payload's bytes kept for the hash, parsed after."""

    payload: msgspec.Raw  # type: ignore[assignment]


_WIRE = msgspec.json.Decoder(_Wire)


@dataclass
class Verification:
    """The outcome of checking every stream's chain."""

    streams: dict[tuple[str, str], list[LogEvent]] = field(default_factory=dict)
    breaks: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0

    @property
    def events(self) -> int:
        """How many distinct events were checked."""
        return sum(len(v) for v in self.streams.values())


def verify(events: Iterable[LogEvent]) -> Verification:
    """Group by stream, drop exact redeliveries, and check each chain link by link.

    A break is an altered event (its hash does not match its content), a fork (two
    events at one version), a gap (a missing version) or a link to the wrong predecessor.
    """
    out = Verification()
    grouped: dict[tuple[str, str], dict[int, LogEvent]] = defaultdict(dict)
    for ev in events:
        slot = grouped[(ev.producer, ev.stream_id)]
        known = slot.get(ev.version)
        if known is None:
            slot[ev.version] = ev
        elif known.event_id == ev.event_id and known.hash == ev.hash and \
                known.payload == ev.payload:
            out.duplicates += 1
        else:
            out.breaks.append(_brk(ev, "fork: two different events at one version"))
    for key, by_version in grouped.items():
        chain = [by_version[v] for v in sorted(by_version)]
        out.streams[key] = chain
        prev, expected = GENESIS.hex(), 1
        for ev in chain:
            if ev.version != expected:
                out.breaks.append(_brk(ev, f"missing event(s) before version {ev.version}"))
            elif ev.prev_hash != prev:
                out.breaks.append(_brk(ev, "links to the wrong predecessor"))
            if not (ev.digest_ok if ev.digest_ok is not None else intact(ev)):
                out.breaks.append(_brk(ev, "content does not match its hash (altered)"))
            prev, expected = ev.hash, ev.version + 1
    return out


def compare_heads(log: Verification, store: Verification,
                  pending: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """Streams whose head differs between the Kafka log and the event stores (AUD-2).

    Each place holds every stream's head (last version and hash) for the other: a
    stream shorter in one place had events cut from its end (or not yet published), a
    head whose hash differs was altered. Events still waiting in an outbox (``pending``
    event ids) are not published yet: a log that lacks only those is not cut. Returns a
    break per such stream.
    """
    found: list[dict[str, Any]] = []
    for key in sorted(set(log.streams) | set(store.streams)):
        in_log, in_store = log.streams.get(key, []), store.streams.get(key, [])
        last_log = in_log[-1] if in_log else None
        last_store = in_store[-1] if in_store else None
        if last_log is not None and last_store is not None and \
                (last_log.version, last_log.hash) == (last_store.version, last_store.hash):
            continue
        log_v = last_log.version if last_log else 0
        store_v = last_store.version if last_store else 0
        if log_v < store_v and all(e.event_id in pending for e in in_store[log_v:]):
            continue  # published later by the relay
        if log_v < store_v:
            reason = (f"the Kafka log ends at version {log_v}, the event store at {store_v}: "
                      "events missing from the end of the log")
        elif store_v < log_v:
            reason = (f"the event store ends at version {store_v}, the Kafka log at {log_v}: "
                      "events cut from the end of the event store")
        else:
            reason = f"the head at version {log_v} differs between the log and the store"
        ref = last_store or last_log
        assert ref is not None
        found.append({"producer": key[0], "stream_id": key[1],
                      "version": min(log_v, store_v) + 1 if log_v != store_v else log_v,
                      "event_id": ref.event_id, "reason": reason})
    return found


def _digest(ev: LogEvent, prev: bytes) -> bytes:
    # The envelope carries the canonical text of the instant and id, so the header is
    # rebuilt from the strings as published; a reformatted field fails the hash.
    header = header_text(ev.event_id, ev.event_type, ev.schema_version, ev.stream_id,
                         ev.version, ev.subject_id, ev.occurred)
    return chain_hash(prev, header, orjson.dumps(ev.payload, option=orjson.OPT_SORT_KEYS))


def intact(ev: LogEvent) -> bool:
    """Whether the event's hash matches its content and its predecessor's hash."""
    return _digest(ev, bytes.fromhex(ev.prev_hash)).hex() == ev.hash


def _brk(ev: LogEvent, reason: str) -> dict[str, Any]:
    return {"producer": ev.producer, "stream_id": ev.stream_id, "version": ev.version,
            "event_id": ev.event_id, "reason": reason}


def reconstruct(
    checked: Verification, keys: Mapping[str, DataKey | None], erased: set[str],
    subject: str | None = None, until: datetime | None = None, with_events: bool = True,
) -> dict[str, Any]:
    """Each stream's state as of ``until``, decrypted; erased subjects' fields read "erased".

    Args:
        checked: The verified streams.
        keys: Data key per subject (``None``: erased or unknown, so fields read "erased").
        erased: Subjects in the erased register.
        subject: Only events about this subject.
        until: Only events that occurred at or before this instant.
        with_events: Include each stream's event history, not only its folded state.
    """
    services: dict[str, dict[str, Any]] = defaultdict(dict)
    seen_subjects: set[str] = set()
    everything = subject is None and until is None
    for (producer, stream_id), chain in sorted(checked.streams.items()):
        picked = chain if everything else [
            e for e in chain if (subject is None or e.subject_id == subject)
            and (until is None or e.occurred_at <= until)]
        if picked:
            services[producer][stream_id] = _replayed(picked, keys, seen_subjects, with_events)
    return {
        "as_of": until.isoformat() if until else None,
        "subject": subject,
        "services": dict(services),
        "subjects": {s: {"erased": s in erased} for s in sorted(seen_subjects)},
        "verification": {"streams": len(checked.streams), "events": checked.events,
                         "duplicates": checked.duplicates, "breaks": checked.breaks},
    }


def _replayed(chain: list[LogEvent], keys: Mapping[str, DataKey | None], seen: set[str],
              with_events: bool) -> dict[str, Any]:
    """One stream's folded state (and history), its events decrypted one by one."""
    state: dict[str, Any] = {}
    history = []
    for ev in chain:
        sid = ev.subject_id
        _, rule, ends = _kind(ev.event_type, ev.schema_version)
        payload = _decrypt(ev, keys.get(sid) if sid else None)
        _apply(state, ev, payload, rule, ends)
        if sid:
            seen.add(sid)
        if with_events:
            history.append({"version": ev.version, "event_type": ev.event_type,
                            "occurred_at": ev.occurred, "subject_id": sid, "payload": payload})
    entry: dict[str, Any] = {"version": chain[-1].version, "state": state}
    if with_events:
        entry["events"] = history
    return entry


@dataclass(frozen=True)
class EventQuery:
    """Which events an auditor or integrator follows (AUD-1): each bound is optional."""

    after_position: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    event_types: frozenset[str] = frozenset()
    producer: str | None = None
    subject: str | None = None

    def matches(self, ev: LogEvent) -> bool:
        """Whether ``ev`` is selected."""
        return (
            (self.after_position is None or ev.position > self.after_position)
            and (self.since is None or ev.occurred_at >= self.since)
            and (self.until is None or ev.occurred_at <= self.until)
            and (not self.event_types or ev.event_type in self.event_types)
            and (self.producer is None or ev.producer == self.producer)
            and (self.subject is None or ev.subject_id == self.subject)
        )


def select(checked: Verification, query: EventQuery) -> list[LogEvent]:
    """The verified events ``query`` selects, by producer, then global position."""
    picked = [ev for chain in checked.streams.values() for ev in chain if query.matches(ev)]
    return sorted(picked, key=lambda ev: (ev.producer, ev.position, ev.stream_id, ev.version))


def event_record(ev: LogEvent, keys: Mapping[str, DataKey | None]) -> dict[str, Any]:
    """One event as an auditor reads it: metadata and the decrypted payload (or "erased")."""
    return {"producer": ev.producer, "position": ev.position, "stream_id": ev.stream_id,
            "version": ev.version, "event_id": ev.event_id, "event_type": ev.event_type,
            "schema_version": ev.schema_version, "occurred_at": ev.occurred,
            "subject_id": ev.subject_id,
            "payload": _decrypt(ev, keys.get(ev.subject_id) if ev.subject_id else None)}


def fold(state: dict[str, Any], ev: LogEvent, payload: Mapping[str, Any]) -> None:
    """Apply one event to its stream's state the way the owning aggregate does (AUD-1).

    An event of an entity the aggregate holds (``Event.folds_into``, e.g. a session of
    an account) updates that entity under its collection, never the aggregate's own
    fields; an event that ends the entity marks it with ``ended_at``.
    """
    _, rule, ends = _kind(ev.event_type, ev.schema_version)
    _apply(state, ev, payload, rule, ends)


def _apply(state: dict[str, Any], ev: LogEvent, payload: Mapping[str, Any],
           rule: tuple[str, str] | None, ends: bool) -> None:
    if rule is None:
        state.update(payload)
        return
    key = payload.get(rule[1])
    if not isinstance(key, str):
        state.update(payload)
        return
    entity = state.setdefault(rule[0], {}).setdefault(key, {})
    entity.update(payload)
    if ends:
        entity["ended_at"] = ev.occurred


def _kind(event_type: str, schema_version: int,
          ) -> tuple[bool | None, tuple[str, str] | None, bool]:
    """Per event type, looked up once: whether it has personal or credential fields
    (``None``: a type this code does not know), the entity it folds into, and whether it
    ends that entity."""
    found = _KINDS.get((event_type, schema_version))
    if found is not None:
        return found
    cls = Event.registry.get((event_type, schema_version))
    if cls is None:
        return None, None, False  # not kept: the type may be registered later
    found = _KINDS[(event_type, schema_version)] = (
        has_personal_fields(cls) or bool(credential_fields(cls)), cls.folds_into,
        bool(cls.ends_entity))
    return found


_KINDS: dict[tuple[str, int], tuple[bool | None, tuple[str, str] | None, bool]] = {}


def decrypted(ev: LogEvent, key: DataKey | None) -> dict[str, Any]:
    """The event's payload with its personal fields decrypted ("erased" without a key) and
    its credential fields "withheld" (``contracts.personal.credential_fields``)."""
    return _decrypt(ev, key)


def _decrypt(ev: LogEvent, key: DataKey | None) -> dict[str, Any]:
    if ev.plain is not None:
        return dict(ev.plain)
    if _kind(ev.event_type, ev.schema_version)[0] is False:
        return ev.payload  # nothing to open (most events): read as published, not copied
    payload = dict(ev.payload)
    if ev.has_tokens():
        try:
            decode_fields(ev.event_type, ev.schema_version, payload, ev.event_id, key)
        except UnknownEventError:
            return {k: ("erased" if is_token(v) and key is None else v)
                    for k, v in payload.items()}
    cls = Event.registry.get((ev.event_type, ev.schema_version))
    # An auditor sees states, never credentials (SEC-4), by the export's rule; an erased
    # one still reads "erased" (what erasure left is what the auditor checks).
    return withhold_credentials(cls, payload) if cls is not None else payload
