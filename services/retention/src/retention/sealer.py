"""The platform seals its stream heads itself (AUD-2): no ``make audit ARGS=seal`` needed.

The retention service runs :func:`run_sealer`: every few seconds it reads what each event
store appended since its last pass, checks each new event's hash and its link to the head
it checked before (a stream's first pass checks the chain from its start), and signs the
new head of every stream that grew (retention.heads), keeping the seals in PostgreSQL and
on the heads topic. A stream whose new events do not link is left unsealed and logged
(its id and version only): ``verify`` names the break. Events later cut from the end of a
sealed stream then show as a stream that ends before its sealed head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka.errors import KafkaError

from kernel.eventstore import GENESIS, chain_hash, header_bytes
from kernel.logs import get_logger
from retention.adapters.sealed_heads import load_heads, publish_heads, store_heads
from retention.heads import SealedHead, seal

log = get_logger(__name__)


@dataclass
class SealPass:
    """What one pass did."""

    checked: int = 0
    sealed: list[SealedHead] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    published: bool = True


class HeadSealer:
    """Seals the heads of the event stores' streams as they grow.

    Args:
        dsn: The platform database (one schema per service, each with ``events``).
        bootstrap: The broker, for the heads topic.
        key: The sealing key (retention.heads.heads_key).
        producers: Only these services' stores (all when ``None``).
    """

    def __init__(self, dsn: str, bootstrap: str, key: bytes,
                 producers: Collection[str] | None = None) -> None:
        self._dsn, self._bootstrap, self._key = dsn, bootstrap, key
        self._producers = set(producers) if producers is not None else None
        self._after: dict[str, int] = {}
        self._heads: dict[tuple[str, str], tuple[int, str]] = {}
        self._broken: set[tuple[str, str]] = set()
        self._sealed: dict[tuple[str, str], tuple[int, str]] | None = None

    async def run_once(self) -> SealPass:
        """Check what was appended since the last pass and seal the streams that grew."""
        if self._sealed is None:  # what earlier runs sealed: not signed again on a restart
            self._sealed = {h.key: (h.version, h.hash) for h in await load_heads(self._dsn)}
        out = SealPass()
        grown: set[tuple[str, str]] = set()
        for schema, rows in (await _stored_since(self._dsn, self._after,
                                                 self._producers)).items():
            for row in rows:
                self._after[schema] = row["position"]
                stream, version = row["stream_id"], row["version"]
                key = (schema, stream)
                out.checked += 1
                if key in self._broken:
                    continue
                head_version, head_hash = self._heads.get(key, (0, GENESIS.hex()))
                prev = bytes(row["prev_hash"])
                digest = bytes(row["hash"])
                if version != head_version + 1 or prev.hex() != head_hash or chain_hash(
                        prev, header_bytes(
                            row["event_id"], row["event_type"], row["schema_version"],
                            stream, version, row["subject_id"], row["occurred_at"]),
                        bytes(row["payload"])) != digest:
                    self._broken.add(key)
                    out.broken.append(key)
                    log.warning("retention.heads_unsealed_break", producer=schema,
                                stream_id=stream, version=version)
                    continue
                self._heads[key] = (version, digest.hex())
                grown.add(key)
        now = datetime.now(UTC).isoformat()
        out.sealed = [seal(self._key, p, s, *self._heads[(p, s)], now) for p, s in sorted(grown)
                      if self._sealed.get((p, s)) != self._heads[(p, s)]]
        if not out.sealed:
            return out
        await store_heads(self._dsn, out.sealed)
        try:
            await publish_heads(self._bootstrap, out.sealed)
        except (KafkaError, OSError):
            out.published = False  # kept in PostgreSQL; the next stream growth republishes
            log.warning("retention.heads_not_published", heads=len(out.sealed))
        self._sealed.update({h.key: (h.version, h.hash) for h in out.sealed})
        return out


_ROW = ("position, stream_id, version, event_id, event_type, schema_version, subject_id, "
        "occurred_at, payload, prev_hash, hash")


async def _stored_since(
    dsn: str, after: dict[str, int], producers: Collection[str] | None, limit: int = 50_000,
) -> dict[str, list[asyncpg.Record]]:
    """Each sealed store's rows past the position ``after`` holds for it, in order.

    The rows' stored bytes are checked as they are (no envelope is built, so a pass costs
    a hash per new event), and only the sealed producers' stores are read.
    """
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        schemas = [r["table_schema"] for r in await conn.fetch(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'events' AND table_type = 'BASE TABLE' ORDER BY 1")]
        out: dict[str, list[asyncpg.Record]] = {}
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for schema in schemas:
                if not schema.isidentifier() or (
                        producers is not None and schema not in producers):
                    continue
                out[schema] = await conn.fetch(
                    f"SELECT {_ROW} FROM {schema}.events WHERE position > $1 "
                    "ORDER BY position LIMIT $2", after.get(schema, 0), limit)
        return out
    finally:
        await conn.close()


async def run_sealer(sealer: HeadSealer, every: float, stopping: Callable[[], bool]) -> None:
    """Run ``sealer`` every ``every`` seconds until ``stopping()``; a pass that fails
    (PostgreSQL or the broker down) is retried at the next tick."""
    step = min(0.5, every)
    while not stopping():
        try:
            done = await sealer.run_once()
            if done.sealed:
                log.info("retention.heads_sealed", heads=len(done.sealed),
                         checked=done.checked, published=done.published)
        except Exception as exc:  # CancelledError is no Exception: a stop ends the loop
            log.warning("retention.heads_seal_retry", error=type(exc).__name__)
        for _ in range(max(1, round(every / step))):
            if stopping():
                return
            await asyncio.sleep(step)
