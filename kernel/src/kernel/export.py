"""Every service's part of an access or portability export (PRV-1, PRV-2).

Retention orders an export (``SubjectExportOrdered``); each service reads every event of
the subject in its own event store, its source of record, opens the personal fields with
the subject's keys and answers with the values it holds per data category
(``SubjectDataExported``, sealed under the subject's key like any personal field). It needs
nothing from the service: the contracts say which field holds which category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from contracts.envelope import event_class
from contracts.personal import ERASED, credential_fields, personal_fields
from contracts.privacy import SubjectDataExported, SubjectExportOrdered
from contracts.topics import events_topic
from kernel.answers import answer_once
from kernel.codec import decode_fields, scopes_by_subject
from kernel.consumer import Delivered, Handler
from kernel.logs import get_logger
from kernel.service import ConsumerSpec, Runtime

log = get_logger(__name__)

_SKIPPED = frozenset({SubjectDataExported.event_type})
"""An earlier export's part is a copy, not data the service holds of its own."""


@dataclass
class _Seen:
    field: str
    event_type: str
    value: Any
    first: datetime
    last: datetime
    times: int = 1


async def subject_data(rt: Runtime, conn: asyncpg.Connection,
                       subject_id: str) -> dict[str, list[dict[str, Any]]]:
    """The subject's personal values in this service's event store, per category.

    A value recorded by many events of one type and field is given once, with when it
    was first and last recorded and how often. Values no key opens any more (erased, or
    an expired period) are not data held and are left out.
    """
    rows = await conn.fetch(
        f"SELECT event_id, event_type, schema_version, occurred_at, payload "
        f"FROM {rt.store.schema}.events WHERE subject_id = $1 ORDER BY position", subject_id)
    parsed = []
    for r in rows:
        if r["event_type"] in _SKIPPED:
            continue
        try:
            cls = event_class(r["event_type"], r["schema_version"])
        except KeyError:
            continue
        # Credentials stay out of an export (GDPR art. 15(4)): their hashes help an attacker.
        withheld = credential_fields(cls)
        fields = {n: p for n, p in personal_fields(cls).items() if n not in withheld}
        if fields:
            parsed.append((r, fields, orjson.loads(r["payload"])))
    if not parsed:
        return {}
    scopes = scopes_by_subject((subject_id, r["event_type"], r["schema_version"], payload)
                               for r, _, payload in parsed)
    key = (await rt.keys.keys_for_reading([subject_id], scopes or None)).get(subject_id)
    if key is None:
        return {}
    seen: dict[tuple[str, str, str, bytes], _Seen] = {}
    for r, fields, payload in parsed:
        opened = decode_fields(r["event_type"], r["schema_version"], payload, r["event_id"], key)
        for name, personal in fields.items():
            value = opened.get(name)
            if value is None or value == ERASED:
                continue
            at = r["occurred_at"]
            k = (personal.category.value, r["event_type"], name, orjson.dumps(value))
            got = seen.get(k)
            if got is None:
                seen[k] = _Seen(name, r["event_type"], value, at, at)
            else:
                got.last, got.times = at, got.times + 1
    out: dict[str, list[dict[str, Any]]] = {}
    for (category, *_), s in seen.items():
        out.setdefault(category, []).append({
            "field": s.field, "event_type": s.event_type, "value": s.value,
            "first_recorded": s.first.isoformat(), "last_recorded": s.last.isoformat(),
            "times_recorded": s.times,
        })
    return out


CHUNK_BYTES = 256 * 1024
"""Most JSON bytes of values one chunk of a part carries: sealed and base64-encoded in its
envelope, a chunk stays well under a broker's usual 1 MB message size."""


def chunked(content: dict[str, list[dict[str, Any]]], limit: int = CHUNK_BYTES,
            ) -> list[dict[str, list[dict[str, Any]]]]:
    """A part's content split into chunks of at most ``limit`` JSON bytes of values each
    (a single larger value has a chunk of its own), in category order; one empty chunk when
    the service holds nothing."""
    out: list[dict[str, list[dict[str, Any]]]] = [{}]
    size = 0
    for category in sorted(content):
        for value in content[category]:
            n = len(orjson.dumps(value))
            if size and size + n > limit:
                out.append({})
                size = 0
            out[-1].setdefault(category, []).append(value)
            size += n
    return out


def export_consumer() -> ConsumerSpec:
    """The consumer giving this service's part of every export it is asked for."""

    def build(rt: Runtime) -> Handler:
        async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
            for item in batch:
                order = item.event
                assert isinstance(order, SubjectExportOrdered)
                if rt.name not in order.services:
                    continue
                content = await subject_data(rt, conn, order.subject_id)
                pieces = chunked(content)
                chunks = [SubjectDataExported(
                    request_id=order.request_id, subject_id=order.subject_id, service=rt.name,
                    categories=sorted(piece), content=piece, chunk=i, chunks=len(pieces),
                ) for i, piece in enumerate(pieces)]
                await answer_once(rt, conn, f"export-part-{order.request_id}", chunks,
                                  order.subject_id, item)
                log.info("export.part_given", request_id=order.request_id,
                         categories=len(content), chunks=len(chunks))

        return handle

    return ConsumerSpec(
        name="export", topics=[events_topic("retention")], handler=build,
        event_types=[SubjectExportOrdered.event_type],
    )
