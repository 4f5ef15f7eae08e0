"""``marketplace-reerase``: after a backup of a cluster's PostgreSQL was restored, erase
again every subject the log says was erased (RET-5, PRV-5; deploy/README.md, "Backups").

In a cluster the record of erasures is the retention topic, which a database restore does
not roll back: every ``SubjectKeyShredded`` on it names a subject whose key was destroyed.
With every service stopped, between ``pg_restore`` and the start, this command destroys
those subjects' keys again (but those of a category a legal hold on the log still holds,
RET-4) and queues them in each service's ``erasure_replay`` table,
which the services work through before ``/readyz`` says 200 (``kernel.restore``).
The embedded stack's ``make restore`` does the same from its erasure journal.

Exit codes: 0 done, 2 a missing setting or an unreachable broker or database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson
from pydantic import ValidationError

from contracts.privacy import LegalHoldPlaced, LegalHoldReleased, SubjectKeyShredded
from contracts.topics import events_topic
from kernel.crypto import BlindIndex
from kernel.restore import erase_again, subject_hashes
from kernel.settings import KafkaSettings, PostgresSettings, SecretsSettings
from retention.adapters.kafka_log import read_event_topics
from retention.adapters.register import scoped_categories
from retention.audit import load_stack_secrets

EXIT_ERROR = 2


def erased_in(records: list[tuple[str, bytes | None]], since: datetime | None = None
              ) -> set[str]:
    """The subjects of every ``SubjectKeyShredded`` on the retention topic (since ``since``)."""
    topic = events_topic("retention")
    found: set[str] = set()
    for name, value in records:
        if name != topic or not value:
            continue
        env = orjson.loads(value)
        if env.get("event_type") != SubjectKeyShredded.event_type:
            continue
        if since is not None and datetime.fromisoformat(env["occurred_at"]) < since:
            continue
        found.add(str(env["payload"]["subject_id"]))
    return found


def held_on(records: list[tuple[str, bytes | None]]) -> dict[str, set[str]]:
    """Per subject, the categories sealed under keys of their own that a legal hold on the
    log still holds (placed, not released): an erasure kept their keys (RET-4)."""
    topic, scoped = events_topic("retention"), scoped_categories()
    placed: dict[str, tuple[str, str]] = {}
    for name, value in records:
        if name != topic or not value:
            continue
        env = orjson.loads(value)
        payload = env.get("payload") or {}
        if env.get("event_type") == LegalHoldPlaced.event_type and \
                payload.get("category") in scoped:
            placed[payload["hold_id"]] = (str(payload["subject_id"]), payload["category"])
        elif env.get("event_type") == LegalHoldReleased.event_type:
            placed.pop(str(payload.get("hold_id")), None)
    out: dict[str, set[str]] = {}
    for subject, category in placed.values():
        out.setdefault(subject, set()).add(category)
    return out


async def reerase(since: datetime | None, dry_run: bool) -> tuple[int, int, int]:
    """(subjects erased on the log, keys destroyed again, subjects queued in services)."""
    records = await read_event_topics(KafkaSettings().bootstrap)
    subjects = erased_in(records, since)
    if dry_run:
        return len(subjects), 0, 0
    index = BlindIndex(SecretsSettings().index_key_bytes())
    kept = {index.subject(s): cats for s, cats in held_on(records).items() if s in subjects}
    pg = PostgresSettings()
    destroyed, queued = await erase_again(pg.dsn(), pg.dsn(pg.keystore_database),
                                          subject_hashes(index, subjects), index, kept)
    return len(subjects), destroyed, queued


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``marketplace-reerase``."""
    ap = argparse.ArgumentParser(prog="marketplace-reerase", description=__doc__.split("\n\n")[0])
    ap.add_argument("--since", type=datetime.fromisoformat, default=None,
                    help="only erasures from this instant on (ISO 8601; the backup's time)")
    ap.add_argument("--dry-run", action="store_true", help="count the erasures, change nothing")
    ap.add_argument("--data-dir", default=".stack",
                    help="the embedded stack's data directory, for its secrets.env")
    args = ap.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # one line of ours says it
    load_stack_secrets(Path(args.data_dir))
    try:
        SecretsSettings()
    except ValidationError:
        print("error: MARKET_SECRETS_INDEX_KEY is missing or invalid: set it as the services "
              "have it", file=sys.stderr)
        return EXIT_ERROR
    try:
        on_log, destroyed, queued = asyncio.run(reerase(args.since, args.dry_run))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"error: PostgreSQL or the broker is unreachable ({type(exc).__name__})",
              file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if not type(exc).__module__.startswith("aiokafka"):
            raise
        print(f"error: the broker at {KafkaSettings().bootstrap} cannot be read "
              f"({type(exc).__name__})", file=sys.stderr)
        return EXIT_ERROR
    print(f"erasures on the log: {on_log}; keys destroyed again: {destroyed}; "
          f"subjects queued for erasure in the services: {queued}"
          + (" (dry run: nothing changed)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
