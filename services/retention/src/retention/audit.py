"""The auditors' command line (AUD-1, AUD-2): ``marketplace-audit replay|events|verify|seal``.

Each command reads every ``*.events.v1`` topic from the beginning and checks every hash
chain. ``replay [--subject ID] [--until T]`` decrypts with the key store and prints the
reconstructed state of every aggregate as JSON; ``events [--after-position N] [--since T]
[--type T]...`` prints the selected events as JSON lines (metadata and the decrypted
payload); an erased subject's personal fields read "erased". ``verify`` exits 1 on any
break, including a stream that ends before the head ``seal`` signed (retention.heads).
Progress and warnings go to standard error. Settings come from the ``MARKET_*``
environment; root secrets not set there are read from the embedded stack's
``<data dir>/secrets.env`` (``--data-dir``, default ``$MARKET_DATA_DIR`` or ``.stack``), so
the command works from the project's root beside a running ``make run``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from kernel.crypto import BlindIndex, DataKey
from kernel.heap import collection_paused
from kernel.keyring import KeyRing
from kernel.keystore import PostgresKeyStore
from kernel.settings import IndexKeySettings, KafkaSettings, PostgresSettings, SecretsSettings
from retention.adapters.kafka_log import read_event_topics
from retention.adapters.register import load_records_basis
from retention.adapters.sealed_heads import load_heads, publish_heads, read_heads, store_heads
from retention.adapters.store_log import read_event_stores, stored_hashes
from retention.audit_parallel import ShareFailed, default_workers, replay_parallel
from retention.audit_progress import Reporter, pick_mode, render_records
from retention.bootstrap import load_contracts
from retention.heads import check_sealed, heads_key, newest, seal
from retention.service_layer.records import build_records
from retention.service_layer.replay import (
    EventQuery,
    LogEvent,
    Verification,
    compare_heads,
    event_record,
    reconstruct,
    select,
    verify,
)

EXIT_OK, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2


class _Out:
    report = Reporter()
    json = False


def _progress(message: str) -> None:
    _Out.report.say(message)


def _count(done: int, total: int | None) -> None:
    _Out.report.count("reading the Kafka log", done, total)


def _checked(records: Sequence[tuple[str, bytes | None]], where: str,
             started: float) -> Verification:
    events, foreign = [], 0
    for _, value in records:
        if value is None:
            continue
        try:
            events.append(LogEvent.parse(value))
        except (ValueError, KeyError, TypeError):
            foreign += 1
    if foreign:
        _progress(f"warning: {foreign} record(s) in {where} are not event envelopes")
    checked = verify(events)
    _progress(f"{where}: checked {checked.events} event(s) in {len(checked.streams)} "
              f"stream(s), {checked.duplicates} redelivery(ies), {len(checked.breaks)} "
              f"break(s) in {time.perf_counter() - started:.1f}s")
    return checked


async def _from_kafka() -> Verification:
    started = time.perf_counter()
    return _checked(await read_event_topics(KafkaSettings().bootstrap, _progress, _count),
                    "the Kafka log", started)


async def _from_stores() -> tuple[Verification, set[str]]:
    """The event stores' history, and the ids of events not yet published."""
    started = time.perf_counter()
    stored, pending = await read_event_stores(PostgresSettings().dsn(), _progress)
    return _checked(stored, "the event stores", started), pending


async def _load_log(source: str) -> tuple[Verification, str]:
    """The verified history from ``source`` (``auto``: Kafka, or the event stores when
    the broker is unreachable or holds no events); returns it and which source it is."""
    reason = ""
    if source in ("auto", "kafka"):
        try:
            checked = await _from_kafka()
        except (KafkaError, OSError):
            if source == "kafka":
                raise
            reason = "the broker is unreachable"
        else:
            if checked.events or source == "kafka":
                _progress("source: the Kafka log")
                return checked, "kafka"
            reason = "the broker holds no events: it lost its data"
    checked, _ = await _from_stores()
    _progress("source: the event stores" + (f" ({reason})" if reason else ""))
    return checked, "event stores"


async def _keys(
    subjects: set[str],
) -> tuple[dict[str, DataKey | None], set[str]]:
    """Every needed key in one lookup per 5000 subjects, and which subjects are erased (with
    the keys of categories a legal hold kept, if any)."""
    pg, secrets = PostgresSettings(), SecretsSettings()
    index = BlindIndex(secrets.index_key_bytes())
    pool = await asyncpg.create_pool(pg.dsn(pg.keystore_database), min_size=1, max_size=2)
    try:
        store = PostgresKeyStore(pool, KeyRing.from_settings(secrets), index)
        ordered = sorted(subjects)
        keys: dict[str, DataKey | None] = {}
        erased: set[str] = set()
        # Categories a legal hold kept through an erasure (RET-4) read as held: the
        # auditor is the hold's reader; every other field of the subject reads "erased".
        for i in range(0, len(ordered), 5000):
            found, gone = await store.keys_for_audit(ordered[i:i + 5000])
            keys.update(found)
            erased |= gone
        return keys, erased
    finally:
        await pool.close()


async def replay(subject: str | None, until: datetime | None, with_events: bool,
                 src: str = "auto") -> int:
    """Print the reconstructed state; returns the exit code."""
    checked, source = await _load_log(src)
    needed = {
        e.subject_id for chain in checked.streams.values() for e in chain
        if e.subject_id and (subject is None or e.subject_id == subject)
    }
    keys, erased = await _keys(needed) if needed else ({}, set())
    _progress(f"{len(needed)} subject(s), {len(erased)} erased")
    state = {"source": source,
             **reconstruct(checked, keys, erased, subject, until, with_events)}
    sys.stdout.buffer.write(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
    if checked.breaks:
        _progress("warning: the log has hash-chain breaks (see verification.breaks)")
    _Out.report.finish("replay", checked.events)
    return EXIT_OK


def replay_command(subject: str | None, until: datetime | None, with_events: bool,
                   src: str = "auto", workers: int = 1) -> int:
    with collection_paused():
        return _replay_command(subject, until, with_events, src, workers)


def _replay_command(subject: str | None, until: datetime | None, with_events: bool,
                    src: str, workers: int) -> int:
    """``replay`` in ``workers`` processes when there is more than one (each reading,
    hashing, decrypting and folding its share, this process linking the streams that
    cross shares), from the Kafka log or, when the broker is unreachable or holds no
    events, from the event stores; else in this process. Returns the exit code."""
    if workers < 2:
        return asyncio.run(replay(subject, until, with_events, src))
    sources = ["kafka", "stores"] if src == "auto" else ["kafka"] if src == "kafka" \
        else ["stores"]
    reason = ""
    for source in sources:
        try:
            merged, foreign, warnings = replay_parallel(
                subject, until, with_events, workers, source,
                lambda done, total: _Out.report.count(
                    f"reading the Kafka log (this process's share, 1 of {workers})", done,
                    total))
        except ShareFailed:
            if source == "kafka" and src == "auto":
                reason = "the broker is unreachable"
                continue
            # the one process below reads again and says what went wrong
            return asyncio.run(replay(subject, until, with_events, src))
        if source == "kafka" and src == "auto" and not merged["verification"]["events"]:
            reason = "the broker holds no events: it lost its data"
            continue
        where = "the Kafka log" if source == "kafka" else "the event stores"
        for warning in warnings:
            _progress(warning)
        if foreign:
            _progress(f"warning: {foreign} record(s) in {where} are not event envelopes")
        _progress(f"source: {where} ({workers} processes)" + (f" ({reason})" if reason else ""))
        name = "kafka" if source == "kafka" else "event stores"
        sys.stdout.buffer.write(orjson.dumps({"source": name, **merged},
                                             option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        if merged["verification"]["breaks"]:
            _progress("warning: the log has hash-chain breaks (see verification.breaks)")
        _Out.report.finish("replay", merged["verification"]["events"])
        return EXIT_OK
    return asyncio.run(replay(subject, until, with_events, src))


async def events(query: EventQuery, src: str = "auto") -> int:
    """Print the selected events as JSON lines, oldest first per producer (AUD-1)."""
    checked, _ = await _load_log(src)
    picked = select(checked, query)
    needed = {ev.subject_id for ev in picked if ev.subject_id and ev.has_tokens()}
    keys, _ = await _keys(needed) if needed else ({}, set())
    out = sys.stdout.buffer
    for ev in picked:
        out.write(orjson.dumps(event_record(ev, keys)) + b"\n")
    sys.stdout.flush()
    _progress(f"{len(picked)} event(s) selected of {checked.events}")
    _Out.report.finish("events", checked.events)
    return EXIT_OK


async def verify_all(src: str = "auto") -> int:
    """Check every chain in the event stores and in the Kafka log, and that each stream's
    head is the same in both (events cut from an end); print the breaks; 1 if any.
    ``src`` ``kafka`` or ``stores`` checks the chains of that place alone."""
    if src == "kafka":
        only = await _from_kafka()
        return _verified(["kafka"], only, [{**b, "source": "kafka"} for b in only.breaks],
                         only.duplicates)
    # The stores first: every stored event is then in the log by the time it is read,
    # or still waiting in an outbox (pending); a log that grew meanwhile is rechecked.
    stores, pending = await _from_stores()
    sources, breaks = ["event stores"], [{**b, "source": "event stores"} for b in stores.breaks]
    log: Verification | None = None
    if src != "stores":
        try:
            log = await _from_kafka()
        except (KafkaError, OSError):
            _progress("warning: the broker is unreachable; checking the event stores only")
    breaks += await _sealed(stores, log, pending)
    if log is not None:
        sources.insert(0, "kafka")
        breaks += [{**b, "source": "kafka"} for b in log.breaks]
        if not log.events and stores.events:
            _progress("warning: the broker holds no events: it lost its data, or the relays "
                      "have not published yet")
        breaks += [{**b, "source": "heads"} for b in await _heads(log, stores, pending)]
    return _verified(sources, stores, breaks, log.duplicates if log else 0)


async def records_command(src: str = "auto") -> int:
    """Print the records of processing (GDPR art. 30, AUD-3) from the data register and the
    log: a table on a terminal, JSON otherwise (or with ``--json``)."""
    register, basis = load_records_basis()
    checked, source = await _load_log(src)
    events = [e for stream in checked.streams.values() for e in stream]
    doc = build_records(register, basis, events, {
        "source": source, "events": checked.events, "breaks": len(checked.breaks),
        "read_at": datetime.now(UTC).isoformat()})
    if sys.stdout.isatty() and not _Out.json:
        render_records(doc)
    else:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    _Out.report.finish("records", checked.events)
    return EXIT_OK


async def seal_heads(producer: str | None = None) -> int:
    """Sign the head of every unbroken stream of the event stores (of ``producer`` only, if
    given) and keep the seals in PostgreSQL and on the heads topic (AUD-2); 1 if a broken
    stream was left unsealed."""
    stores, _ = await _from_stores()
    if producer is not None:
        stores.streams = {k: v for k, v in stores.streams.items() if k[0] == producer}
        stores.breaks = [b for b in stores.breaks if b["producer"] == producer]
    key = heads_key(IndexKeySettings().index_key_bytes())  # the only secret sealing needs
    broken = sorted({(b["producer"], b["stream_id"]) for b in stores.breaks})
    now = datetime.now(UTC).isoformat()
    heads = [seal(key, owner, stream, chain[-1].version, chain[-1].hash, now)
             for (owner, stream), chain in sorted(stores.streams.items())
             if chain and (owner, stream) not in set(broken)]
    await store_heads(PostgresSettings().dsn(), heads)
    published = True
    try:
        await publish_heads(KafkaSettings().bootstrap, heads)
    except (KafkaError, OSError):
        published = False
        _progress("warning: the broker is unreachable: the seals are kept in PostgreSQL only")
    report = {"sealed": len(heads), "sealed_at": now, "published": published,
              "unsealed_broken_streams": [{"producer": p, "stream_id": s} for p, s in broken]}
    sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
    _Out.report.finish("seal", stores.events)
    return EXIT_BROKEN if broken else EXIT_OK


async def _sealed(stores: Verification, log: Verification | None,
                  pending: set[str]) -> list[dict[str, Any]]:
    """Streams that end before, or differ at, their sealed head, in the stores and in the
    log; seals whose signature fails. Needs the root secrets (the sealing key)."""
    try:
        key = heads_key(IndexKeySettings().index_key_bytes())
    except ValidationError:
        _progress("warning: no root secrets: sealed heads not checked")
        return []
    heads = await load_heads(PostgresSettings().dsn())
    if log is not None:
        on_topic, malformed = await read_heads(KafkaSettings().bootstrap)
        heads += on_topic
        if malformed:
            _progress(f"warning: {malformed} record(s) on the heads topic are not seals")
    best, forged = newest(key, heads)
    _progress(f"{len(best)} sealed head(s) checked")
    found = [{"producer": h.producer, "stream_id": h.stream_id, "version": h.version,
              "reason": "a sealed head whose signature does not verify (forged)",
              "source": "seal"} for h in forged]
    found += [{**b, "source": "seal"}
              for b in check_sealed(stores.streams, best, "the event store")]
    if log is not None:
        waiting = {k for k, h in best.items() for ev in stores.streams.get(k, [])
                   if ev.version >= h.version and ev.event_id in pending}
        found += [{**b, "source": "seal"} for b in check_sealed(
            log.streams, {k: h for k, h in best.items() if k not in waiting}, "the Kafka log")]
    return found


def _verified(sources: list[str], checked: Verification, breaks: list[dict[str, Any]],
              duplicates: int) -> int:
    report = {"sources": sources, "streams": len(checked.streams), "events": checked.events,
              "duplicates": duplicates, "breaks": breaks, "ok": not breaks}
    _Out.report.finish("verify", checked.events)
    sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()
    return EXIT_BROKEN if breaks else EXIT_OK


async def _heads(log: Verification, stores: Verification,
                 pending: set[str]) -> list[dict[str, Any]]:
    """Head differences, less those where the log is ahead of the stores' snapshot only
    because events were written after it (the store holds the same event now)."""
    found = compare_heads(log, stores, pending)
    ahead = [(b["producer"], b["stream_id"], log.streams[(b["producer"], b["stream_id"])][-1])
             for b in found if "end of the event store" in b["reason"]]
    if not ahead:
        return found
    now = await stored_hashes(PostgresSettings().dsn(),
                              [(p, s, ev.version) for p, s, ev in ahead])
    caught_up = {(p, s) for p, s, ev in ahead if now.get((p, s, ev.version)) == ev.hash}
    return [b for b in found if (b["producer"], b["stream_id"]) not in caught_up]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="marketplace-audit", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MARKET_DATA_DIR", ".stack"),
                   help="the embedded stack's data directory, for its secrets.env")
    p.add_argument("--json", action="store_true",
                   help="progress and the closing throughput as JSON lines on standard "
                        "error, for machines (default: a progress bar on a terminal)")
    p.add_argument("--source", choices=("auto", "kafka", "stores"), default="auto",
                   help="replay/events: the Kafka log, the event stores, or auto (Kafka; "
                        "the stores when the broker is unreachable or lost its data); "
                        "verify: both and their heads (auto), or one place's chains")
    # The same options after the command too (``records --json``): absent there, the
    # values given before it (or their defaults) stand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="as before the command")
    common.add_argument("--source", choices=("auto", "kafka", "stores"),
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, parents=[common])
    rp = add("replay", help="reconstruct state from the Kafka log (AUD-1)")
    rp.add_argument("--subject", help="only events about this data subject")
    rp.add_argument("--until", type=_instant, help="state as of this ISO-8601 instant")
    rp.add_argument("--state-only", action="store_true", help="omit each stream's history")
    rp.add_argument("--workers", type=_positive, default=default_workers(),
                    help="processes reading the Kafka log's partitions in parallel, each "
                         "verifying, decrypting and folding its share (default: one per "
                         f"core, at most 4; {default_workers()} here)")
    ev = add("events", help="the events an auditor follows, as JSON lines (AUD-1)")
    ev.add_argument("--after-position", type=int, help="only past this global position")
    ev.add_argument("--since", type=_instant, help="only at or after this ISO-8601 instant")
    ev.add_argument("--until", type=_instant, help="only at or before this ISO-8601 instant")
    ev.add_argument("--type", action="append", default=[], dest="types",
                    help="only this event type (repeatable), e.g. accounts.AccountRegistered")
    ev.add_argument("--producer", help="only the events of this service")
    ev.add_argument("--subject", help="only events about this data subject")
    add("verify", help="check every hash chain and sealed head; exit 1 on a "
                   "break (AUD-2)")
    add("records", help="the records of processing (GDPR art. 30) from the data "
                   "register and the log (AUD-3)")
    se = add("seal", help="sign every stream's head (version and hash) and keep "
                        "it in PostgreSQL and on Kafka, so that verify finds a cut tail (AUD-2)")
    se.add_argument("--producer", help="only the streams of this service")
    return p


def load_stack_secrets(data_dir: Path) -> bool:
    """Put the ``MARKET_SECRETS_*`` of ``<data_dir>/secrets.env`` into the environment,
    never over a value already set; returns whether the file was read."""
    path = data_dir / "secrets.env"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("MARKET_SECRETS_"):
            os.environ.setdefault(name, value.strip())
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``marketplace-audit``; returns (and exits with) the exit code."""
    args = parser().parse_args(argv)
    # The client libraries' own log lines (aiokafka's "Unable connect to …") would come
    # before the one line this command answers with: it says what went wrong itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    _Out.report = Reporter(pick_mode(args.json))
    _Out.json = args.json
    load_stack_secrets(Path(args.data_dir))
    if args.command in ("replay", "events", "seal"):
        try:  # sealing needs the index key alone (deploy/ gives the sealer nothing more)
            IndexKeySettings() if args.command == "seal" else SecretsSettings()
        except ValidationError as exc:
            names = ", ".join(sorted({f"MARKET_SECRETS_{str(e['loc'][0]).upper()}"
                                      for e in exc.errors()}))
            _progress(f"error: no root secrets to decrypt with ({names} missing or invalid): "
                      f"set them, or run from the project root beside `make run` "
                      f"(reads {Path(args.data_dir) / 'secrets.env'})")
            return _exit(EXIT_ERROR, argv)
    load_contracts()
    try:
        if args.command == "replay":
            code = replay_command(args.subject, args.until, not args.state_only,
                                  args.source, args.workers)
        elif args.command == "events":
            with collection_paused():
                code = asyncio.run(events(EventQuery(
                    args.after_position, args.since, args.until, frozenset(args.types),
                    args.producer, args.subject), args.source))
        elif args.command == "seal":
            code = asyncio.run(seal_heads(args.producer))
        elif args.command == "records":
            code = asyncio.run(records_command(args.source))
        else:
            code = asyncio.run(verify_all(args.source))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _progress(f"error: PostgreSQL or the broker is unreachable ({type(exc).__name__}); "
                  "is the stack running?")
        code = EXIT_ERROR
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            _progress(f"error: the broker at {KafkaSettings().bootstrap} cannot be read "
                      f"({type(exc).__name__}); is the stack running?")
            code = EXIT_ERROR
        else:
            raise
    return _exit(code, argv)


def _exit(code: int, argv: Sequence[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
