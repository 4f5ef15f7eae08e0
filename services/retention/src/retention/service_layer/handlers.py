"""Handlers of the retention service: privacy requests, receipts and the subject projection."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.envelope import event_class
from contracts.personal import categories_of
from contracts.privacy import ERASURE_SERVICES, ErasureReceiptIssued, SubjectDataExported
from kernel.consumer import Delivered
from kernel.eventstore import ConcurrencyError
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from retention.adapters import exports, holds, proofs
from retention.adapters.requests import RequestRepository, due_for_shredding
from retention.adapters.subjects import SubjectProjection
from retention.domain import commands, proof
from retention.domain.requests import InvalidTransition, PrivacyRequest
from retention.domain.subjects import Sighting, fold
from retention.service_layer import tokens

log = get_logger(__name__)

_COPIES = frozenset({SubjectDataExported.event_type})
"""Export parts copy data a service holds; they are not holdings of their own (RET-2)."""


class RequestNotFound(Exception):
    """No such request, or not the caller's."""


class BadStatusToken(Exception):
    """The status token does not match the request or has expired."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """What the submitter gets back."""

    request_id: str
    status_token: str


async def submit_request(
    pool: asyncpg.Pool, repo: RequestRepository, keys: KeyStore,
    cmd: commands.SubmitPrivacyRequest, now: datetime, grace: timedelta = timedelta(0),
) -> Submitted:
    """Record a request; a verified erasure shreds the subject's key before commit (PRV-5).

    The key is destroyed inside the transaction that records ``SubjectKeyShredded``: if
    destruction fails nothing is recorded, and the order is published only after commit.
    """
    request_id = str(uuid.uuid4())
    token, token_hash = tokens.new_token()
    async with pool.acquire() as conn, conn.transaction():
        waiting, keep = await holds.for_erasure(conn, cmd.subject_id)
        held = bool(waiting)
        req = PrivacyRequest.receive(request_id, cmd.subject_id, cmd.type, cmd.channel,
                                     cmd.identity_verified, now, ERASURE_SERVICES, held, grace)
        if cmd.carried_out and cmd.type == "rectification":
            req.carried_out("rectification", now)
        shred = req.status == "in_progress" and req.type == "erasure"
        await repo.save(conn, req, token_hash, correlation_id=uuid.UUID(request_id))
        if shred:
            existed = await shred_keys(conn, keys, [req], keep)
            log.info("privacy.key_shredded", request_id=request_id, key_existed=existed)
    log.info("privacy.request_received", request_id=request_id, type=cmd.type,
             status=req.status)
    return Submitted(request_id, token)


async def shred_keys(conn: asyncpg.Connection, keys: KeyStore,
                     started: Sequence[PrivacyRequest], keep: Sequence[str]) -> bool:
    """Destroy the subject's keys as its erasures start (PRV-5), once, but the scoped keys
    of the categories a legal hold keeps (RET-4): each started request notes those, for its
    exceptions and its proof. Returns whether the subject's key existed."""
    existed = await keys.destroy(started[0].subject_id, keep)
    if keep:
        ids = [req.request_id for req in started]
        await conn.execute("UPDATE retention.privacy_requests SET kept_categories = $2 "
                           "WHERE request_id = ANY($1::text[])", ids, list(keep))
        log.info("privacy.categories_kept_under_hold", requests=len(ids),
                 categories=list(keep))
    return existed


async def erase_idle_account(conn: asyncpg.Connection, repo: RequestRepository,
                             keys: KeyStore, subject_id: str, now: datetime,
                             grace: timedelta = timedelta(0)) -> str | None:
    """An idle account's warning went unanswered: the account is erased by the system."""
    return await erase_by_system(conn, repo, keys, subject_id, now, "idle account", grace)


async def erase_by_system(conn: asyncpg.Connection, repo: RequestRepository, keys: KeyStore,
                          subject_id: str, now: datetime, reason: str,
                          grace: timedelta = timedelta(0)) -> str | None:
    """An erasure request of channel ``system``, verified (the platform asks, not a third
    party), carried out like the member's own (an idle account, a closed account's period).
    Idempotent: nothing is done while the subject has an erasure request not refused.

    Returns:
        The new request's id, or ``None`` if one already exists.
    """
    if await conn.fetchval(
            "SELECT 1 FROM retention.privacy_requests WHERE subject_id = $1 "
            "AND type = 'erasure' AND status <> 'refused'", subject_id):
        return None
    request_id = str(uuid.uuid4())
    waiting, keep = await holds.for_erasure(conn, subject_id)
    req = PrivacyRequest.receive(request_id, subject_id, "erasure", "system", True, now,
                                 ERASURE_SERVICES, bool(waiting), grace)
    await repo.save(conn, req, correlation_id=uuid.UUID(request_id))
    if req.status == "in_progress":
        await shred_keys(conn, keys, [req], keep)
    log.info("privacy.system_erasure", request_id=request_id, status=req.status, reason=reason)
    return request_id


async def verify_request(pool: asyncpg.Pool, repo: RequestRepository, keys: KeyStore,
                         cmd: commands.VerifyPrivacyRequest, now: datetime,
                         grace: timedelta = timedelta(0)) -> str:
    """Staff verified the requester's identity; an erasure then starts (or is scheduled)."""
    async with pool.acquire() as conn, conn.transaction():
        req = await repo.get(conn, cmd.request_id)
        if req is None:
            raise RequestNotFound(cmd.request_id)
        req.verify(now)
        waiting, keep = await holds.for_erasure(conn, req.subject_id)
        if not (req.type == "erasure" and waiting):
            req.start_or_schedule(ERASURE_SERVICES, now, grace)
        await repo.save(conn, req)
        if req.status == "in_progress" and req.type == "erasure":
            await shred_keys(conn, keys, [req], keep)
    return req.status


async def cancel_erasure(pool: asyncpg.Pool, repo: RequestRepository, request_id: str,
                         by: str, now: datetime) -> str:
    """Cancel an erasure within its grace window (by its subject or staff); the account
    unlocks once accounts learns of it.

    Raises:
        RequestNotFound: no such request.
        InvalidTransition: not an erasure, or its key is already shredded.
    """
    async with pool.acquire() as conn, conn.transaction():
        req = await repo.get(conn, request_id)
        if req is None:
            raise RequestNotFound(request_id)
        req.cancel(by, now)
        await repo.save(conn, req)
    log.info("privacy.erasure_cancelled", request_id=request_id, by=by)
    return req.status


async def shred_due(pool: asyncpg.Pool, repo: RequestRepository, keys: KeyStore,
                    now: datetime) -> int:
    """Start every scheduled erasure whose grace window has ended: the key is shredded in
    the transaction that records it (PRV-5). Returns how many started."""
    started = 0
    async with pool.acquire() as conn:
        for request_id in await due_for_shredding(conn, now):
            try:
                async with conn.transaction():
                    req = await repo.get(conn, request_id)
                    if req is None or req.status != "verified" or req.shred_at is None:
                        continue
                    waiting, keep = await holds.for_erasure(conn, req.subject_id)
                    if waiting:
                        continue  # RET-4: a hold placed in the window keeps it waiting
                    req.start(ERASURE_SERVICES, now)
                    await repo.save(conn, req)
                    await shred_keys(conn, keys, [req], keep)
            except ConcurrencyError:
                continue  # cancelled, or another replica started it
            started += 1
            log.info("privacy.key_shredded", request_id=request_id, scheduled=True)
    return started


async def complete_request(pool: asyncpg.Pool, repo: RequestRepository, request_id: str,
                           now: datetime) -> str:
    """Staff carried out a verified rectification (a correction the member cannot make)."""
    async with pool.acquire() as conn, conn.transaction():
        req = await repo.get(conn, request_id)
        if req is None:
            raise RequestNotFound(request_id)
        if not req.carried_out("rectification", now):
            raise InvalidTransition("only a verified rectification is completed by staff")
        await repo.save(conn, req)
    return req.status


async def refuse_request(pool: asyncpg.Pool, repo: RequestRepository,
                         cmd: commands.RefusePrivacyRequest, now: datetime) -> str:
    """Refuse a request with its reason."""
    async with pool.acquire() as conn, conn.transaction():
        req = await repo.get(conn, cmd.request_id)
        if req is None:
            raise RequestNotFound(cmd.request_id)
        req.refuse(cmd.reason, now)
        await repo.save(conn, req)
    return req.status


async def request_status(
    conn: asyncpg.Connection, repo: RequestRepository, request_id: str,
    account_id: str | None, status_token: str | None, now: datetime, token_days: int,
) -> dict[str, Any]:
    """The request as API.md shows it, for its subject or a holder of its status token.

    Raises:
        RequestNotFound: unknown, or another subject's request (no token given).
        BadStatusToken: a token was given and does not open this request.
    """
    row = await repo.row(conn, request_id)
    if status_token is not None:
        if row is None or not tokens.token_valid(status_token, row["token_hash"],
                                                 row["ended_at"], now, token_days):
            raise BadStatusToken(request_id)
    elif row is None or account_id is None or row["subject_id"] != account_id:
        raise RequestNotFound(request_id)
    return view(row, await exceptions(conn, row))


async def exceptions(conn: asyncpg.Connection, row: asyncpg.Record) -> list[dict[str, Any]]:
    """Lawful exceptions to an erasure (PRV-5, RET-4): while it waits, the legal holds that
    keep it waiting; once carried out, the holds under which categories were kept."""
    if row["type"] != "erasure" or row["status"] == "refused":
        return []
    active = await holds.active(conn, row["subject_id"])
    if row["status"] in ("received", "verified"):
        return [holds.as_exception(h) for h in active]
    kept = set(row["kept_categories"] or ())
    return [holds.as_exception(h) for h in active if h["category"] in kept]


def view(row: asyncpg.Record | dict[str, Any],
         exceptions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """API.md's shape of a request from its projection row."""
    got = row["receipts"]
    got = orjson.loads(got) if isinstance(got, str) else got
    receipts = [
        {"service": s, "status": got.get(s, {}).get("status", "pending"),
         "at": got.get(s, {}).get("at")}
        for s in row["expected_services"]
    ]
    return {
        "request_id": row["request_id"], "type": row["type"], "status": row["status"],
        "channel": row["channel"], "received_at": row["received_at"].isoformat(),
        "due_at": row["due_at"].isoformat(),
        "ended_at": row["ended_at"].isoformat() if row["ended_at"] else None,
        "reason": row["reason"] or None, "receipts": receipts, "exceptions": exceptions or [],
        # the grace window: when the key is shredded unless the erasure is cancelled
        "erasure_at": (row["shred_at"].isoformat()
                       if row.get("shred_at") and row["status"] == "verified" else None),
    }


async def record_receipts(
    conn: asyncpg.Connection, repo: RequestRepository,
    receipts: Sequence[tuple[ErasureReceiptIssued, datetime, Any]], now: datetime,
    signer: Ed25519PrivateKey | None = None,
) -> None:
    """Record services' erasure receipts; completes a request on its last receipt (PRV-5).

    Args:
        conn: The consumer's transaction.
        repo: Request repository.
        receipts: Each receipt with the instant it was issued and its event id.
        now: The current instant.
        signer: Signs the proof of each erasure that completes (PRV-5, RET-5).
    """
    by_request: dict[str, list[tuple[ErasureReceiptIssued, datetime, Any]]] = defaultdict(list)
    for item in receipts:
        by_request[item[0].request_id].append(item)
    for request_id, items in by_request.items():
        for attempt in range(3):
            try:
                async with conn.transaction():
                    req = await repo.get(conn, request_id)
                    if req is None:
                        log.warning("privacy.receipt_for_unknown_request", request_id=request_id)
                        break
                    was = req.status
                    for receipt, at, _ in items:
                        req.record_receipt(receipt.service, receipt.status, at, now)
                    await repo.save(conn, req, causation_id=items[-1][2])
                    if req.status == "completed" and was != "completed" and signer:
                        await _issue_proof(conn, req, signer)
                if req.status == "completed":
                    log.info("privacy.erasure_completed", request_id=request_id)
                break
            except ConcurrencyError:
                if attempt == 2:
                    raise


async def _issue_proof(conn: asyncpg.Connection, req: PrivacyRequest,
                       signer: Ed25519PrivateKey) -> None:
    assert req.received_at and req.first_order_at and req.ended_at
    kept = await conn.fetchval("SELECT kept_categories FROM retention.privacy_requests "
                               "WHERE request_id = $1", req.request_id)
    statement = proof.build_proof(
        req.request_id, req.subject_id, req.received_at, req.first_order_at, req.ended_at,
        [(r.service, r.at) for r in req.receipt_list()], proof.key_id(signer.public_key()),
        list(kept or ()))
    await proofs.keep(conn, req.request_id, statement, proof.sign(statement, signer))
    log.info("privacy.erasure_proof_issued", request_id=req.request_id)


async def record_carried_out(conn: asyncpg.Connection, repo: RequestRepository,
                             request_id: str, type_: str, now: datetime) -> None:
    """A restriction or objection request was carried out by the consent service: complete it."""
    async with conn.transaction():
        req = await repo.get(conn, request_id)
        if req is not None and req.carried_out(type_, now):
            await repo.save(conn, req)
            log.info("privacy.request_completed", request_id=request_id, type=type_)


async def project_subjects(conn: asyncpg.Connection, projection: SubjectProjection,
                           batch: Sequence[Delivered]) -> None:
    """Note which categories of which subject each event shows a service holds (RET-2)."""
    sightings, seen = [], set()
    for item in batch:
        env = item.envelope
        # The kernel passes a redelivery that lands in the same batch twice; count it once.
        if env.subject_id is None or env.event_id in seen or env.event_type in _COPIES:
            continue
        seen.add(env.event_id)
        cats = categories_of(event_class(env.event_type, env.schema_version), env.payload)
        if cats:
            sightings.append(Sighting(env.subject_id, env.producer, frozenset(cats),
                                      env.occurred_at))
    await projection.upsert(conn, fold(sightings))


async def erase_subject(conn: asyncpg.Connection, projection: SubjectProjection,
                        subject_id: str) -> tuple[bool, str]:
    """Delete the subject from the subject projection; the request records stay as proof."""
    deleted = await projection.delete(conn, subject_id)
    roles = await conn.execute("DELETE FROM retention.staff_roles WHERE account_id = $1",
                               subject_id)
    gone = int(roles.split()[-1]) + await exports.drop_subject(conn, subject_id)
    return deleted + gone > 0, (f"subject projection: {deleted} row(s), staff roles and "
                                f"export parts: {gone} row(s) deleted; request records kept")
