"""Access and portability exports (PRV-1, PRV-2): parts from every service, one document."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contracts.privacy import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    ExportedCategory,
    ExportedSource,
    ExportedValue,
    SubjectExport,
)
from kernel.eventstore import ConcurrencyError
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters import exports
from retention.adapters.requests import RequestRepository
from retention.domain.register import DataRegister
from retention.service_layer import sharing

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Part:
    """One service's part as it arrived: its sealed content, never opened here.

    ``producer`` is the service that signed the record (``kernel.signing``); ``service``
    and ``subject_id`` are what the part says of itself.
    """

    request_id: str
    subject_id: str
    service: str
    event_id: Any
    sealed: str
    given_at: datetime
    producer: str
    chunk: int = 0
    chunks: int = 1


class ExportNotReady(Exception):
    """The request is not an export, or not every service has given its part yet."""


class ExportExpired(Exception):
    """The export was deleted at its expiry."""


async def record_parts(conn: asyncpg.Connection, repo: RequestRepository,
                       parts: Sequence[Part], now: datetime, keep_for: timedelta) -> None:
    """Keep each part sealed and note it on the request; the last one makes it ready.

    A part is taken only for the request's own subject and from the service it names as
    its giver: anything else would put one member's data into another's export (or pass
    one service's part off as another's), so it is refused and logged, never kept.
    """
    by_request: dict[str, list[Part]] = defaultdict(list)
    for part in parts:
        by_request[part.request_id].append(part)
    for request_id, items in by_request.items():
        for attempt in range(3):
            try:
                async with conn.transaction():
                    req = await repo.get(conn, request_id)
                    if req is None:
                        log.warning("privacy.part_for_unknown_request", request_id=request_id)
                        break
                    for p in items:
                        if p.subject_id != req.subject_id or p.service != p.producer:
                            log.warning("privacy.part_refused", request_id=request_id,
                                        service=p.producer,
                                        reason="another subject" if p.subject_id
                                        != req.subject_id else "another service's")
                            continue
                        if not req.awaits_part(p.service):
                            continue  # a repeat, or not asked for
                        whole = await exports.keep_part(
                            conn, request_id, p.service, p.subject_id, p.event_id, p.sealed,
                            p.given_at, p.chunk, p.chunks)
                        if whole:  # the last chunk of the service's part
                            req.record_part(p.service, p.given_at, now)
                    await repo.save(conn, req)
                    if req.status == "completed":
                        await exports.mark_ready(conn, request_id, req.subject_id, now,
                                                 now + keep_for)
                        log.info("privacy.export_ready", request_id=request_id)
                break
            except ConcurrencyError:
                if attempt == 2:
                    raise
    await exports.drop_expired(conn, now)


async def document(conn: asyncpg.Connection, keys: KeyStore, register: DataRegister,
                   row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """The export of a completed access or portability request, as one JSON document.

    Args:
        conn: A connection.
        keys: The key store (the parts are sealed under the subject's key).
        register: The data register, for each category's purposes, basis and period.
        row: The request's projection row.
        now: The current instant.

    Raises:
        ExportNotReady: not an export, or a part is still missing.
        ExportExpired: past its expiry, the parts are gone.
    """
    ready = await exports.ready(conn, row["request_id"])
    if ready is None or row["type"] not in ("access", "portability"):
        raise ExportNotReady(row["request_id"])
    if ready["expires_at"] <= now:
        await exports.drop_expired(conn, now)
        raise ExportExpired(row["request_id"])
    parts = await exports.open_parts(conn, keys, row["request_id"])
    held: dict[str, list[ExportedSource]] = defaultdict(list)
    for service, content in sorted(parts.items()):
        for category, values in sorted(content.items()):
            held[category].append(ExportedSource(
                service=service, values=[ExportedValue.model_validate(v) for v in values]))
    shared = await sharing.recipients_by_category(conn, row["subject_id"])
    categories = []
    for category, sources in sorted(held.items()):
        entry = register.entry(category)
        categories.append(ExportedCategory(
            category=category, name=entry.name, source=entry.source,
            purposes=list(entry.purposes), legal_basis=entry.legal_basis,
            retention_days=entry.retention_days, retention_from=entry.retention_from,
            end_of_life=entry.end_of_life, recipients=shared.get(category, []),
            held_by=sources,
        ))
    doc = SubjectExport(
        format=EXPORT_FORMAT, format_version=EXPORT_FORMAT_VERSION,
        request_id=row["request_id"], subject_id=row["subject_id"], type=row["type"],
        generated_at=ready["generated_at"], expires_at=ready["expires_at"],
        register_version=register.version, services=list(row["expected_services"]),
        categories=categories,
    )
    return doc.model_dump(mode="json")
