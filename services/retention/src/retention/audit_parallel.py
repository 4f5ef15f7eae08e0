"""``replay`` in parallel processes, each with its share of the Kafka log's partitions (or
of the event stores' streams, when the broker has lost its data).

The parent process reads the first share itself and forks one process per other share.
Each reads its partitions, parses every envelope and checks its hash over the bytes as
published, while a thread looks up the keys of the subjects its records are keyed by. A
stream may span partitions (a conversation's events are keyed by their senders), so no
share can check a chain alone without knowing what the others hold: each share tells the
parent which streams it holds, and the parent answers with the ones another share holds
too. A share then links, decrypts and folds every stream it holds alone (the chain of
such a stream is whole in it: events of a stream are never in a share that does not
report the stream) and ships each folded state as JSON; it decrypts the events of the
shared streams and ships those, which the parent links and folds. The output is what one
process prints (``tests/test_audit_parallel.py``).

On 2 cores shared with the broker, the database and the idle platform, two processes
replay 100,000 events in ~0.9 s, one in ~1.2 s (``make bench ARGS=audit_replay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import pickle
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import orjson

from kernel.crypto import DataKey
from kernel.settings import KafkaSettings, PostgresSettings
from retention.adapters.kafka_log import read_event_topics
from retention.adapters.store_log import read_event_stores
from retention.service_layer.replay import (
    LogEvent,
    Verification,
    decrypted,
    reconstruct,
    verify,
)

StreamKey = tuple[str, str]
Progress = Callable[[int, int | None], None]
_REPARSED = 1 << 20
"""Bytes of stream states up to which the parent lays the answer out as one process does."""


def default_workers() -> int:
    """Processes a replay uses unless told: one per core, at most four (measured on two
    cores: two processes replay 100,000 events in ~0.8 of one process's time)."""
    return max(1, min(os.cpu_count() or 1, 4))


class ShareFailed(RuntimeError):
    """A worker could not read or replay its share (the message names the exception's
    type, never its message: that can quote a decrypted value, SEC-4)."""


def _worker(conn: Connection, index: int, count: int, subject: str | None,
            until: datetime | None, with_events: bool, source: str) -> None:
    gc.disable()  # millions of young, acyclic objects: collections only cost (the process ends)
    try:
        share = _Share(index, count, subject, until, with_events, source)
        conn.send_bytes(pickle.dumps(share.read(), pickle.HIGHEST_PROTOCOL))
        share.look_up_keys()
        shared = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own parent
        conn.send_bytes(pickle.dumps(share.finish(shared), pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # the parent reports it and falls back
        with contextlib.suppress(OSError):  # unless it is gone (it closed the pipe)
            # the type only: a message can quote a decrypted value (SEC-4)
            conn.send_bytes(pickle.dumps(("error", type(exc).__name__)))
    conn.close()
    # Everything this process holds is the parent's now: leave without freeing it object
    # by object (the parent waits for this exit; a teardown took ~0.1 s per 50k events).
    os._exit(0)


class _Result(NamedTuple):
    """What a share answers once folded (a failed share answers ``("error", type name)``)."""

    status: str
    out: dict[str, Any]
    """Its streams' states (each entry JSON already), subjects and verification."""
    events: list[LogEvent]
    """The events of streams other shares hold too, decrypted, for the parent to fold."""
    erased: list[str]
    foreign: int
    """Records that were not event envelopes."""
    warnings: list[str]


class _Share:
    """One process's share of the log: read and parsed (each hash checked), then, once
    the streams other shares hold too are known, linked, decrypted and folded."""

    def __init__(self, index: int, count: int, subject: str | None, until: datetime | None,
                 with_events: bool, source: str, progress: Progress | None = None) -> None:
        self.index, self.count, self.source = index, count, source
        self.progress = progress
        self.subject, self.until, self.with_events = subject, until, with_events
        self.grouped: dict[StreamKey, list[LogEvent]] = defaultdict(list)
        self.foreign = 0
        self.warnings: list[str] = []
        self.keys: dict[str, DataKey | None] = {}
        self.erased: set[str] = set()

    def read(self) -> list[StreamKey]:
        """Read and parse the share; returns the streams it holds. The keys of the
        subjects the records are keyed by are looked up meanwhile, in a thread (the
        database works while this process parses)."""
        from retention.bootstrap import load_contracts

        load_contracts()
        share = (self.index, self.count)
        keyed: set[str] = set()
        records: list[tuple[str, bytes | None]]
        if self.source == "kafka":
            records = asyncio.run(read_event_topics(
                KafkaSettings().bootstrap, share=share, keys=keyed,
                count=self.progress or (lambda _done, _total: None),
                warn=self.warnings.append))
        else:
            stored, _ = asyncio.run(read_event_stores(
                PostgresSettings().dsn(), share=share, subjects=keyed, with_pending=False))
            records = list(stored)
        if self.subject is not None:
            keyed &= {self.subject}
        self._lookup = _Lookup(keyed)
        grouped = self.grouped
        for _, value in records:
            if value is None:
                continue
            try:
                ev = LogEvent.parse(value)
            except (ValueError, KeyError, TypeError):
                self.foreign += 1
                continue
            grouped[(ev.producer, ev.stream_id)].append(ev)
        return list(grouped)

    def look_up_keys(self) -> None:
        """The keys of the share's subjects (those the lookup begun by :meth:`read` missed,
        records keyed otherwise, looked up now)."""
        from retention.audit import _keys  # the auditor's key lookup, in this process

        self.keys, self.erased = self._lookup.result()
        missed = {ev.subject_id for evs in self.grouped.values() for ev in evs
                  if ev.subject_id and ev.subject_id not in self.keys
                  and (self.subject is None or ev.subject_id == self.subject)}
        if missed:
            more, erased = asyncio.run(_keys(missed))
            self.keys.update(more)
            self.erased |= erased

    def finish(self, shared: list[StreamKey]) -> _Result:
        """The folded state of every stream held here alone (each entry as JSON), and the
        decrypted events of the ``shared`` streams, for the parent to link and fold."""
        crossing = set(shared)
        alone = verify(ev for key, evs in self.grouped.items() if key not in crossing
                       for ev in evs)
        out = _serialised(reconstruct(alone, self.keys, self.erased, self.subject, self.until,
                                      self.with_events))
        events = []
        for key in crossing:
            for ev in self.grouped[key]:
                if self.subject is None or ev.subject_id == self.subject:
                    ev.plain = decrypted(ev, self.keys.get(ev.subject_id) if ev.subject_id
                                         else None)
                events.append(ev)
        return _Result("ok", out, events, sorted(self.erased), self.foreign, self.warnings)


class _Lookup(threading.Thread):
    """The key lookup for some subjects, in a thread of its own (with its own loop)."""

    def __init__(self, subjects: set[str]) -> None:
        super().__init__(name="audit-keys", daemon=True)
        self.subjects = subjects
        self.found: tuple[dict[str, DataKey | None], set[str]] = ({}, set())
        self.start()

    def run(self) -> None:
        from retention.audit import _keys

        with contextlib.suppress(Exception):  # a head start only: the share looks up
            if self.subjects:                  # whatever this did not find, and says why
                self.found = asyncio.run(_keys(self.subjects))

    def result(self) -> tuple[dict[str, DataKey | None], set[str]]:
        """The keys and the erased subjects found (none if the lookup failed)."""
        self.join()
        return self.found


def replay_parallel(subject: str | None, until: datetime | None, with_events: bool,
                    workers: int, source: str = "kafka", progress: Progress | None = None,
                    ) -> tuple[dict[str, Any], int, list[str]]:
    """The state of every stream from ``workers`` shares (this process reads the first,
    forked processes the others), merged; how many records were not event envelopes; and
    the shares' warnings (a read that ended short of the log, say).

    ``source`` ``kafka`` shares out the log's partitions (a stream may cross shares);
    ``stores`` the event stores' streams by a hash of their id (each stream whole in one).
    ``progress`` is told how far this process has read its own share of the Kafka log.

    Raises:
        ShareFailed: a worker failed (the broker unreachable, for one).
    """
    ctx = multiprocessing.get_context("fork")
    conns, procs = [], []
    for i in range(1, workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, i, workers, subject, until, with_events,
                                                     source),
                           daemon=True)
        proc.start()
        child.close()
        conns.append(parent)
        procs.append(proc)
    try:  # the caller pauses the collector (replay_command)
        own = _Share(0, workers, subject, until, with_events, source, progress)
        try:
            held = [own.read()]
            own.look_up_keys()
        except Exception as exc:
            raise ShareFailed(type(exc).__name__) from exc
        held += [_answer(conn) for conn in conns]
        seen = Counter(key for keys in held for key in keys)
        for conn, keys in zip(conns, held[1:], strict=True):
            conn.send_bytes(pickle.dumps([k for k in keys if seen[k] > 1]))
        results = [own.finish([k for k in held[0] if seen[k] > 1])]
        results += [_answer(conn) for conn in conns]
        return (_merged(results, subject, until, with_events),
                sum(r.foreign for r in results), [w for r in results for w in r.warnings])
    finally:
        for conn in conns:  # a worker still waiting for the parent (which failed) stops
            conn.close()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def _serialised(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with each stream's entry as JSON already (``orjson.Fragment``): a worker
    serialises its own streams, the parent only puts them in order."""
    out["services"] = {producer: {sid: orjson.dumps(entry) for sid, entry in states.items()}
                       for producer, states in out["services"].items()}
    return out


def _answer(conn: Connection) -> Any:
    try:
        got = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own forked worker
    except EOFError as exc:
        raise ShareFailed("a worker exited without an answer") from exc
    if isinstance(got, tuple) and got and got[0] == "error":
        raise ShareFailed(got[1])
    return got


def _merged(results: list[_Result],
            subject: str | None, until: datetime | None, with_events: bool) -> dict[str, Any]:
    erased = {s for r in results for s in r.erased}
    crossing = verify(ev for r in results for ev in r.events)
    parts = [r.out for r in results]
    parts.append(_serialised(reconstruct(crossing, {}, erased, subject, until, with_events)))
    services: dict[str, dict[str, Any]] = defaultdict(dict)
    subjects: dict[str, Any] = {}
    total = Verification()
    streams = events = 0
    for part in parts:
        for producer, states in part["services"].items():
            services[producer].update(states)
        subjects.update(part["subjects"])
        v = part["verification"]
        streams += v["streams"]
        events += v["events"]
        total.duplicates += v["duplicates"]
        total.breaks.extend(v["breaks"])
    # A small answer (one subject's, say) is laid out as one process lays it out; a large
    # one keeps each stream's JSON as its share serialised it (no second parse here).
    size = sum(len(b) for states in services.values() for b in states.values())
    entry: Callable[[bytes], Any] = orjson.loads if size <= _REPARSED else orjson.Fragment
    return {
        "as_of": until.isoformat() if until else None,
        "subject": subject,
        "services": {p: {sid: entry(b) for sid, b in sorted(services[p].items())}
                     for p in sorted(services)},
        "subjects": dict(sorted(subjects.items())),
        "verification": {"streams": streams, "events": events,
                         "duplicates": total.duplicates, "breaks": total.breaks},
    }
