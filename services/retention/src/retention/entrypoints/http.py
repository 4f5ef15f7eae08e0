"""The retention service's internal API (loopback; the gateway is its only caller)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from contracts.privacy import EXPORT_TYPES, RequestType
from kernel.http import ApiError
from retention.adapters import proofs
from retention.domain import commands, proof
from retention.domain.requests import InvalidTransition
from retention.entrypoints.common import part as _part
from retention.entrypoints.common import runtime as _rt
from retention.service_layer import exports, handlers

router = APIRouter()


class PrivacyRequestIn(BaseModel):
    """A privacy request as the gateway (or support staff) submits it."""

    subject_id: str = Field(min_length=1, max_length=200, description="Whose data.")
    type: RequestType = Field(description="Which right.")
    channel: Literal["app", "form", "email", "post"] = Field("app", description="How it came.")
    identity_verified: bool = Field(False, description="Identity verified on receipt.")
    carried_out: bool = Field(
        False, description="A rectification already applied to the account (PRV-3).")



def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/internal/privacy-requests", status_code=202)
async def submit(body: PrivacyRequestIn, request: Request) -> dict[str, str]:
    """Record a request; a verified erasure shreds the subject's key at once."""
    rt = _rt(request)
    cmd = commands.SubmitPrivacyRequest(body.subject_id, body.type, body.channel,
                                        body.identity_verified, body.carried_out)
    done = await handlers.submit_request(rt.pool, _part(rt, "requests"), rt.keys, cmd, _now(),
                                         _grace(rt))
    return {"request_id": done.request_id, "status_token": done.status_token}


def _grace(rt: Any) -> timedelta:
    return timedelta(seconds=rt.settings.erasure_grace_seconds)


@router.post("/internal/privacy-requests/{request_id}/cancel")
async def cancel(
    request_id: str, request: Request,
    x_account_id: Annotated[str | None, Header()] = None,
    x_status_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Cancel an erasure within its grace window, by its subject (session) or with the
    request's status token (the account is locked, so the member has no session)."""
    rt = _rt(request)
    repo = _part(rt, "requests")

    async def current() -> dict[str, Any]:  # also checks the session or token
        async with rt.pool.acquire() as conn:
            return await handlers.request_status(
                conn, repo, request_id, x_account_id, x_status_token, _now(),
                rt.settings.status_token_days,  # type: ignore[attr-defined]
            )

    try:
        await current()
        await handlers.cancel_erasure(rt.pool, repo, request_id, "subject", _now())
        return await current()
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except handlers.BadStatusToken as exc:
        raise ApiError(401, "unauthenticated", "the status token is invalid or expired") from exc
    except InvalidTransition as exc:
        raise ApiError(409, "not_cancellable", "only an erasure whose key has not been "
                       "shredded yet can be cancelled") from exc


@router.get("/internal/privacy-requests/{request_id}")
async def status(
    request_id: str, request: Request,
    x_account_id: Annotated[str | None, Header()] = None,
    x_status_token: Annotated[str | None, Header()] = None,
    status_token: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """The request for its subject (``X-Account-Id``) or a status-token holder."""
    rt = _rt(request)
    token = x_status_token or status_token
    try:
        async with rt.pool.acquire() as conn:
            return await handlers.request_status(
                conn, _part(rt, "requests"), request_id, x_account_id, token, _now(),
                rt.settings.status_token_days,  # type: ignore[attr-defined]
            )
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except handlers.BadStatusToken as exc:
        raise ApiError(401, "unauthenticated", "the status token is invalid or expired") from exc


@router.get("/internal/privacy-requests/{request_id}/export")
async def export(request_id: str, request: Request,
                 x_account_id: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """The export of the subject's own access or portability request (PRV-1, PRV-2)."""
    rt = _rt(request)
    async with rt.pool.acquire() as conn:
        row = await _part(rt, "requests").row(conn, request_id)
        if row is None or x_account_id is None or row["subject_id"] != x_account_id:
            raise ApiError(404, "not_found", "no such privacy request")
        if row["type"] not in EXPORT_TYPES:
            raise ApiError(409, "not_an_export", "only access and portability requests have "
                                                 "an export")
        try:
            return await exports.document(conn, rt.keys, _part(rt, "register"), row, _now())
        except exports.ExportNotReady as exc:
            raise ApiError(409, "not_ready", "the export is still being assembled",
                           {"Retry-After": "1"}) from exc
        except exports.ExportExpired as exc:
            raise ApiError(410, "expired", "the export has expired; ask again") from exc


@router.get("/internal/privacy-requests/{request_id}/proof")
async def erasure_proof(
    request_id: str, request: Request,
    x_account_id: Annotated[str | None, Header()] = None,
    x_status_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The signed proof of a completed erasure, for its subject or status-token holder."""
    rt = _rt(request)
    try:
        async with rt.pool.acquire() as conn:
            await handlers.request_status(
                conn, _part(rt, "requests"), request_id, x_account_id, x_status_token, _now(),
                rt.settings.status_token_days,  # type: ignore[attr-defined]
            )
            found = await proofs.get(conn, request_id)
    except handlers.RequestNotFound as exc:
        raise ApiError(404, "not_found", "no such privacy request") from exc
    except handlers.BadStatusToken as exc:
        raise ApiError(401, "unauthenticated", "the status token is invalid or expired") from exc
    if found is None:
        raise ApiError(409, "not_ready", "only a completed erasure has a proof")
    statement, signature = found
    return {"proof": statement, "signature": signature, "algorithm": "Ed25519"}


@router.get("/internal/erasure-proof-key")
async def erasure_proof_key(request: Request) -> dict[str, str]:
    """The public key that verifies erasure proofs (Ed25519, raw, base64)."""
    key = _part(_rt(request), "proof_key").public_key()
    return {"algorithm": "Ed25519", "key_id": proof.key_id(key),
            "public_key": proof.public_key_b64(key)}


@router.get("/internal/subjects/{subject_id}")
async def subject(subject_id: str, request: Request) -> JSONResponse:
    """Which categories of the subject's data each service holds (RET-2)."""
    rt = _rt(request)
    async with rt.pool.acquire() as conn:
        rows = await _part(rt, "subjects").of(conn, subject_id)
    holdings = [
        {"category": r["category"], "service": r["service"],
         "first_seen": r["first_seen"].isoformat(), "last_seen": r["last_seen"].isoformat(),
         "events": r["events"]}
        for r in rows
    ]
    return JSONResponse({"subject_id": subject_id, "holdings": holdings})
