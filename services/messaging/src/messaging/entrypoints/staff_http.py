"""The trust-and-safety desk's internal routes (MSG-2, SEC-3, SEC-5); roles decide here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from messaging.entrypoints.http import Account, Ctx
from messaging.service_layer import staff

router = APIRouter(prefix="/internal/staff", tags=["messaging-staff"])


class Review(BaseModel):
    """A reviewer's decision on a quarantined message."""

    decision: str


class ReportReview(BaseModel):
    """A report's new status."""

    status: str


class NewDispute(BaseModel):
    """A dispute linked to an account."""

    account_id: str
    source: str
    reference: str | None = None
    summary: str | None = None


class Closing(BaseModel):
    """How a dispute ended."""

    resolution: str


Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/quarantine")
async def quarantine(account: Account, ctx: Ctx, purpose: str = "abuse_report",
                     limit: Limit = 50) -> dict[str, Any]:
    """Quarantined messages; the read is recorded (SEC-2)."""
    return await staff.quarantine(account, purpose, limit, ctx)


@router.post("/messages/{message_id}/review")
async def review(message_id: str, body: Review, account: Account, ctx: Ctx) -> dict[str, str]:
    """Deliver or block a quarantined message."""
    return await staff.review(account, message_id, body.decision, ctx)


@router.get("/reports")
async def reports(account: Account, ctx: Ctx, purpose: str = "abuse_report",
                  status: str | None = None, limit: Limit = 50) -> dict[str, Any]:
    """Abuse and vulnerability reports; the read is recorded."""
    return await staff.reports(account, purpose, status, limit, ctx)


@router.post("/reports/{report_id}/review")
async def review_report(report_id: str, body: ReportReview, account: Account, ctx: Ctx
                        ) -> dict[str, str]:
    """Triage, resolve or reject a report."""
    return await staff.review_report(account, report_id, body.status, ctx)


@router.post("/disputes", status_code=201)
async def open_dispute(body: NewDispute, account: Account, ctx: Ctx) -> dict[str, str]:
    """Register a dispute (SEC-3)."""
    return {"dispute_id": await staff.open_dispute(
        account, body.account_id, body.source, body.reference, body.summary, ctx)}


@router.post("/disputes/{dispute_id}/close")
async def close_dispute(dispute_id: str, body: Closing, account: Account, ctx: Ctx
                        ) -> dict[str, str]:
    """Close a dispute (SEC-3)."""
    return await staff.close_dispute(account, dispute_id, body.resolution, ctx)


@router.get("/disputes")
async def disputes(account: Account, ctx: Ctx, purpose: str = "fraud_investigation",
                   account_id: str | None = None) -> dict[str, Any]:
    """The disputes register; the read is recorded."""
    return await staff.disputes(account, purpose, account_id, ctx)


@router.get("/notices")
async def notices(account: Account, ctx: Ctx, purpose: str = "fraud_investigation"
                  ) -> dict[str, Any]:
    """Suspicious-activity notices (SEC-3); the read is recorded."""
    return await staff.notices(account, purpose, ctx)


@router.get("/access-log")
async def access_log(account: Account, ctx: Ctx, subject_id: str | None = None,
                     staff_account_id: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Staff reads in messaging (DPO, auditor)."""
    return await staff.access_log(account, subject_id, staff_account_id, limit, ctx)
