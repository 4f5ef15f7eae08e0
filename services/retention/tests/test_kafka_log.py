"""The auditor's log reader (AUD-1, AUD-2) against a scripted broker: the cases a live
broker rarely shows on demand (a log whose start was deleted, a leader moving, a corrupt
batch, a high-water mark past what is served). The reader's everyday path runs against
the real broker in every ``replay``/``verify`` test."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from aiokafka.errors import CorruptRecordException, KafkaError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from retention.adapters import kafka_log
from retention.adapters.kafka_log import _Reader

pytestmark = pytest.mark.unit

T = "accounts.events.v1"


def _batch(base: int, values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    for i, v in enumerate(values):
        builder.append(i, timestamp=None, key=b"k%d" % (base + i), value=v, headers=[])
    buf = builder.build()
    struct.pack_into(">q", buf, 0, base)  # the broker's base offset (outside the CRC)
    return bytes(buf)


class _Cluster:
    def leader_for_partition(self, _tp: Any) -> int:
        return 0


class _Broker:
    """Partition 0 holds offsets ``begin``..``end - 1``; fetches answer from the scripted
    errors first, then the records from the asked offset in batches of two."""

    def __init__(self, begin: int, end: int, errors: list[int] | None = None,
                 high: int | None = None, corrupt: bool = False) -> None:
        self.begin, self.end, self.high = begin, end, end if high is None else high
        self.errors = list(errors or [])
        self.corrupt = corrupt
        self.cluster = _Cluster()
        self.refreshed = 0

    async def force_metadata_update(self) -> bool:
        self.refreshed += 1
        return True

    async def send(self, _node: int, request: Any) -> Any:
        if not isinstance(request, FetchRequest):  # ListOffsets: the log's first offset
            return _Resp([(T, [(0, 0, -1, self.begin)])])
        ((topic, ((partition, offset, _max),)),) = request.topics
        if self.errors:
            return _Resp([(topic, [(partition, self.errors.pop(0), -1, -1, [], None)])])
        upto = min(offset + 2, self.end)
        data = _batch(offset, [b"v%d" % o for o in range(offset, upto)]) if offset < upto \
            else b""
        if self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        return _Resp([(topic, [(partition, 0, self.high, -1, [], data)])])


class _Resp:
    def __init__(self, topics: list[Any]) -> None:
        self.topics = topics


async def _read(broker: _Broker, keys: set[str] | None = None) -> list[bytes | None]:
    seen: list[tuple[int, int | None]] = []
    out = await _Reader(broker, [(T, 0)], keys).read(lambda n, total: seen.append((n, total)))
    assert seen[-1] == (len(out), broker.end - broker.begin)
    return [v for _, v in out]


async def test_a_log_whose_start_was_deleted_is_read_from_its_first_offset() -> None:
    assert await _read(_Broker(begin=5, end=10)) == [b"v5", b"v6", b"v7", b"v8", b"v9"]


async def test_record_keys_are_collected_when_asked() -> None:
    keys: set[str] = set()
    await _read(_Broker(begin=0, end=3), keys)
    assert keys == {"k0", "k1", "k2"}


async def test_a_moving_leader_is_waited_for_then_read() -> None:
    broker = _Broker(begin=0, end=4, errors=[6, 6])  # NOT_LEADER_FOR_PARTITION twice
    assert await _read(broker) == [b"v0", b"v1", b"v2", b"v3"]
    assert broker.refreshed == 2


async def test_a_leader_that_never_settles_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_log, "_RETRIES", 2)
    with pytest.raises(KafkaError, match="keeps refusing"):
        await _read(_Broker(begin=0, end=4, errors=[6] * 10))


async def test_other_fetch_errors_are_raised() -> None:
    with pytest.raises(KafkaError):
        await _read(_Broker(begin=0, end=4, errors=[1]))  # OFFSET_OUT_OF_RANGE


async def test_a_corrupt_batch_fails_its_crc() -> None:
    with pytest.raises(CorruptRecordException):
        await _read(_Broker(begin=0, end=4, corrupt=True))


async def test_a_high_water_mark_past_the_last_record_served_ends_the_read() -> None:
    """tansu can report a high-water mark past the records it serves: the reader stops
    after rounds that fetch nothing instead of hanging."""
    broker = _Broker(begin=0, end=3, high=7)
    reader = _Reader(broker, [(T, 0)])
    out = await reader.read(lambda _n, _t: None)
    assert [v for _, v in out] == [b"v0", b"v1", b"v2"]
    assert reader.left == {(T, 0)} and reader.missing() == 4  # what read_event_topics says


async def test_a_read_that_ends_short_of_the_log_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = _Broker(begin=0, end=3, high=7)

    class _Metadata:
        def topics(self) -> set[str]:
            return {T, "platform.stream-heads.v1"}

        def partitions_for_topic(self, _topic: str) -> set[int]:
            return {0}

    class _Client:
        cluster = broker.cluster

        def __init__(self, **_kw: Any) -> None:
            pass

        async def bootstrap(self) -> None:
            pass

        async def fetch_all_metadata(self) -> _Metadata:
            return _Metadata()

        async def close(self) -> None:
            pass

        def add_topic(self, _topic: str) -> None:
            pass

        send = staticmethod(broker.send)
        force_metadata_update = staticmethod(broker.force_metadata_update)

    monkeypatch.setattr(kafka_log, "AIOKafkaClient", _Client)
    said: list[str] = []
    out = await kafka_log.read_event_topics("scripted:9092", said.append)
    assert [v for _, v in out] == [b"v0", b"v1", b"v2"]
    assert said[0] == "reading 1 topic(s), 1 partition(s)"
    assert said[-1].startswith("warning: the broker served no record for 4 offset(s) "
                               "below the high-water marks of 1 partition(s)")
