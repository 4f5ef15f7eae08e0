"""Every process drops an erased subject's cached keys at once: a broadcast, not a group (PRV-5).

A service's erasure consumer belongs to the service's consumer group, so with several
replicas only one of them sees a given erasure order. The others would go on decrypting
from their key caches until the cache's time-to-live ran out. ``KeyDropFeed`` therefore
reads the erasure orders in every process on its own, outside any group (all partitions
assigned, starting at the end), and drops the subject's keys from that process's cache as
soon as the order is published. It reads the subject id from the envelope's metadata and
decrypts nothing; an order retention did not sign is ignored (``kernel.signing``; the
service's erasure consumer dead-letters it).

Should the feed lose the broker, it starts again from the end once it is back: orders it
missed meanwhile are covered by the cache's time-to-live, and by the key being destroyed
in the key store before any order is published.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.privacy import SubjectKeyShredded
from kernel.consumer import Record
from kernel.kafkameta import topic_partitions
from kernel.logs import get_logger
from kernel.settings import kafka_client_options
from kernel.signing import EventVerifier, Forged

log = get_logger(__name__)

_ORDER = SubjectKeyShredded.event_type.encode()
"""The ``event_type`` header of the erasure order."""


class KeyDropFeed:
    """Reads erasure orders outside any consumer group and forgets the subjects' keys.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: The topic the erasure orders are published on (retention's events).
        forget: Drops one subject's cached keys (``CachedKeyStore.forget``).
        client_id: Names this process's reader in the broker's logs.
        verifier: Checks that retention signed each order.
    """

    def __init__(
        self, bootstrap: str, topic: str, forget: Callable[[str], None], client_id: str,
        verifier: EventVerifier,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._forget = forget
        self._client_id = client_id
        self._verifier = verifier
        self.assigned = asyncio.Event()
        self.dropped = 0
        self.refused = 0

    async def run(self) -> None:
        """Read until cancelled, reconnecting after any broker failure."""
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
                client_id=self._client_id, fetch_max_wait_ms=100, **kafka_client_options(),
            )
            try:
                await consumer.start()
                parts = (await topic_partitions(consumer)).get(self._topic)
                if not parts:
                    raise LookupError("topic has no partitions yet")
                tps = [TopicPartition(self._topic, p) for p in sorted(parts)]
                consumer.assign(tps)
                await consumer.seek_to_end(*tps)
                for tp in tps:  # resolve the end now, so nothing published after is missed
                    await consumer.position(tp)
                self.assigned.set()
                delay = 0.5
                while True:
                    batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                    for records in batches.values():
                        for rec in records:
                            self._take(rec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.assigned.clear()
                log.warning("keyfeed.retry", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 3.0)

    def _take(self, rec: Record) -> None:
        value = rec.value
        if value is None or not any(
            name == "event_type" and v == _ORDER for name, v in rec.headers or ()
        ):
            return
        try:
            signer = self._verifier.signer(rec)
            env = orjson.loads(value)
            subject = env.get("subject_id")
            self._verifier.check_envelope(signer, str(env.get("producer")),
                                          str(env.get("event_type")))
        except Forged as exc:
            self.refused += 1
            log.warning("keyfeed.forged_order", topic=rec.topic, offset=rec.offset,
                        reason=str(exc))
            return
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(subject, str) and subject:
            self._forget(subject)
            self.dropped += 1
