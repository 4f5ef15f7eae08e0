"""The privacy-request aggregate and its lifecycle (PRV-5, PRV-7).

received → verified → in_progress → completed | refused (refusal possible until the
request ends). The aggregate decides and records contract events; it never touches a
clock, database or broker: callers pass ``now`` and persist ``pending``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.envelope import Event
from contracts.privacy import (
    EXPORT_TYPES,
    ErasureCancelled,
    ErasureEscalated,
    ErasureReceiptRecorded,
    ErasureScheduled,
    ExportPartRecorded,
    PrivacyRequestReceived,
    PrivacyRequestStatusChanged,
    ReceiptStatus,
    RequestStatus,
    SubjectExportOrdered,
    SubjectKeyShredded,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"verified", "refused"}),
    "verified": frozenset({"in_progress", "refused"}),
    "in_progress": frozenset({"completed", "refused"}),
    "completed": frozenset(),
    "refused": frozenset(),
}
"""Which status may follow which (PRV-7)."""

ENDED = frozenset({"completed", "refused"})


class InvalidTransition(Exception):
    """The request cannot move to the asked status from where it is."""


def one_month_after(moment: datetime) -> datetime:
    """The same instant one calendar month later, clamped to the month's last day (PRV-7)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class Receipt:
    """One service's answer to an erasure."""

    service: str
    status: ReceiptStatus
    at: datetime | None


@dataclass
class PrivacyRequest:
    """A data subject's request to exercise a right, from receipt to its end."""

    request_id: str
    subject_id: str = ""
    type: str = ""
    channel: str = ""
    status: RequestStatus = "received"
    received_at: datetime | None = None
    due_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str = ""
    expected_services: tuple[str, ...] = ()
    receipts: dict[str, Receipt] = field(default_factory=dict)
    orders: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    escalated: tuple[str, ...] = ()
    shred_at: datetime | None = None
    """When a scheduled erasure shreds the key unless cancelled (the grace window)."""
    version: int = 0
    pending: list[Event] = field(default_factory=list)

    @classmethod
    def receive(
        cls, request_id: str, subject_id: str, type: str, channel: str,
        identity_verified: bool, now: datetime, erasure_services: Sequence[str],
        held: bool = False, grace: timedelta = timedelta(0),
    ) -> PrivacyRequest:
        """Record a new request; a verified erasure starts at once (PRV-5).

        Args:
            request_id: The new request's id.
            subject_id: Whose data it concerns.
            type: Which right (access, erasure, ...).
            channel: How it arrived (app, form, email, post).
            identity_verified: Whether the subject's identity was verified on receipt.
            now: The instant of receipt.
            erasure_services: Services whose receipts an erasure awaits.
            held: Whether a legal hold freezes the subject's data (RET-4): a verified
                erasure then waits, as ``verified``, until the last hold is released.
            grace: The erasure grace window: a verified erasure is scheduled to shred the
                key this much later, and may be cancelled until then (0: shred at once).
        """
        req = cls(request_id)
        req._record(
            PrivacyRequestReceived(
                request_id=request_id, subject_id=subject_id, type=type,
                channel=channel, identity_verified=identity_verified,
                due_at=one_month_after(now),
            ),
            now,
        )
        if identity_verified and not (held and type == "erasure"):
            req.start_or_schedule(erasure_services, now, grace)
        return req

    @classmethod
    def from_history(
        cls, request_id: str, history: Iterable[tuple[Event, datetime]]
    ) -> PrivacyRequest:
        """Rebuild the request from its stored events and their instants."""
        req = cls(request_id)
        for event, at in history:
            req._apply(event, at)
            req.version += 1
        return req

    @property
    def ended(self) -> bool:
        """Whether the request is completed or refused."""
        return self.status in ENDED

    def verify(self, now: datetime) -> None:
        """Staff verified the subject's identity (requests by form, e-mail or post)."""
        self._move("verified", now)

    def start_or_schedule(self, services: Sequence[str], now: datetime,
                          grace: timedelta) -> None:
        """Start a verified request, or, an erasure with a grace window, schedule it."""
        if self.type == "erasure" and grace > timedelta(0):
            self.schedule(now + grace, now)
        else:
            self.start(services, now)

    def schedule(self, shred_at: datetime, now: datetime) -> None:
        """Schedule a verified erasure: the account locks now, the key is shredded at
        ``shred_at`` unless the erasure is cancelled before (PRV-5, grace and undo)."""
        if self.type != "erasure" or self.status != "verified" or self.shred_at is not None:
            raise InvalidTransition("only a verified erasure not yet scheduled is scheduled")
        self._record(ErasureScheduled(request_id=self.request_id, subject_id=self.subject_id,
                                      shred_at=shred_at), now)

    @property
    def cancellable(self) -> bool:
        """Whether the erasure may still be cancelled: asked for, its key not yet shredded."""
        return self.type == "erasure" and self.status in ("received", "verified")

    def cancel(self, by: str, now: datetime) -> None:
        """Cancel an erasure whose key has not been shredded; the account unlocks."""
        if not self.cancellable:
            raise InvalidTransition(
                "only an erasure whose key has not been shredded yet can be cancelled")
        self._record(ErasureCancelled(request_id=self.request_id, subject_id=self.subject_id,
                                      by="staff" if by == "staff" else "subject"), now)
        self._move("refused", now, f"cancelled by the {'staff' if by == 'staff' else 'subject'}")

    def start(self, services: Sequence[str], now: datetime) -> None:
        """Carry out a verified request that retention orchestrates (erasure, exports)."""
        if self.type == "erasure":
            self.start_erasure(services, now)
        elif self.type in EXPORT_TYPES:
            self.start_export(services, now)

    def start_export(self, services: Sequence[str], now: datetime) -> None:
        """Ask every service for the subject's data it holds (PRV-1, PRV-2)."""
        if self.type not in EXPORT_TYPES:
            raise InvalidTransition(f"a {self.type} request is not an export")
        self._move("in_progress", now)
        self._record(
            SubjectExportOrdered(request_id=self.request_id, subject_id=self.subject_id,
                                 services=list(services)),
            now,
        )

    def awaits_part(self, service: str) -> bool:
        """Whether this is an export in progress still missing ``service``'s part."""
        return (self.type in EXPORT_TYPES and self.status == "in_progress"
                and service in self.expected_services and service not in self.receipts)

    def record_part(self, service: str, at: datetime, now: datetime) -> bool:
        """Record one service's part of an export; completes the request on the last one.

        Returns:
            Whether anything changed (repeats and unexpected services change nothing).
        """
        if not self.awaits_part(service):
            return False
        self._record(ExportPartRecorded(request_id=self.request_id, subject_id=self.subject_id,
                                        service=service, at=at), now)
        if len(self.receipts) == len(self.expected_services):
            self._move("completed", now)
        return True

    def start_erasure(self, services: Sequence[str], now: datetime) -> None:
        """Start a verified erasure: the subject's key is shredded and receipts awaited."""
        if self.type != "erasure":
            raise InvalidTransition(f"a {self.type} request is not an erasure")
        self._move("in_progress", now)
        self._record(
            SubjectKeyShredded(request_id=self.request_id, subject_id=self.subject_id,
                               services=list(services)),
            now,
        )

    def carried_out(self, type_: str, now: datetime) -> bool:
        """The service owning the right carried out a verified request (PRV-4, PRV-6).

        Returns:
            Whether anything changed (a repeat, or another type, changes nothing).
        """
        if self.type != type_ or self.status != "verified":
            return False
        self._move("in_progress", now)
        self._move("completed", now)
        return True

    def refuse(self, reason: str, now: datetime) -> None:
        """Refuse the request, with its reason (PRV-7)."""
        self._move("refused", now, reason)

    def record_receipt(self, service: str, status: ReceiptStatus, at: datetime,
                       now: datetime) -> bool:
        """Record one service's erasure receipt; completes the request on the last one.

        Returns:
            Whether anything changed (duplicates and unexpected services change nothing).
        """
        if self.status != "in_progress" or service not in self.expected_services:
            return False
        known = self.receipts.get(service)
        if known is not None and known.status == status:
            return False
        self._record(
            ErasureReceiptRecorded(request_id=self.request_id, subject_id=self.subject_id,
                                   service=service, status=status, at=at),
            now,
        )
        if all(r.status == "completed" for r in self.receipt_list()):
            self._move("completed", now)
        return True

    def missing(self) -> list[str]:
        """Services whose erasure receipt is not (yet) ``completed``."""
        return [r.service for r in self.receipt_list() if r.status != "completed"]

    def retry(self, now: datetime, escalate_after: int) -> bool:
        """Ask the services that have not confirmed an erasure again (PRV-5).

        Each retry is a new order to those services (their erasure is idempotent). Once
        ``escalate_after`` orders went unanswered, the DPO is told, once; asking goes on.

        Returns:
            Whether anything was recorded.
        """
        missing = self.missing()
        if self.type != "erasure" or self.status != "in_progress" or not missing:
            return False
        if self.orders >= escalate_after and not self.escalated:
            self._record(ErasureEscalated(request_id=self.request_id,
                                          subject_id=self.subject_id, services=missing,
                                          attempts=self.orders), now)
        self._record(SubjectKeyShredded(request_id=self.request_id, subject_id=self.subject_id,
                                        services=missing), now)
        return True

    def receipt_list(self) -> list[Receipt]:
        """A receipt per expected service, ``pending`` until it arrives (API.md order)."""
        return [self.receipts.get(s, Receipt(s, "pending", None)) for s in self.expected_services]

    def _move(self, status: RequestStatus, now: datetime, reason: str = "") -> None:
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"cannot go from {self.status} to {status}")
        self._record(
            PrivacyRequestStatusChanged(request_id=self.request_id, subject_id=self.subject_id,
                                        status=status, reason=reason),
            now,
        )

    def _record(self, event: Event, now: datetime) -> None:
        self._apply(event, now)
        self.pending.append(event)

    def _apply(self, event: Any, at: datetime) -> None:
        if isinstance(event, PrivacyRequestReceived):
            self.subject_id, self.type, self.channel = event.subject_id, event.type, event.channel
            self.received_at, self.due_at = at, event.due_at
            self.status = "verified" if event.identity_verified else "received"
        elif isinstance(event, PrivacyRequestStatusChanged):
            self.status = event.status
            if event.reason:
                self.reason = event.reason
            if event.status in ENDED:
                self.ended_at = at
        elif isinstance(event, SubjectKeyShredded):
            # A retry asks only the missing services; the expected ones stay (PRV-5).
            if not self.expected_services:
                self.expected_services = tuple(event.services)
            self.orders, self.last_order_at = self.orders + 1, at
            self.first_order_at = self.first_order_at or at
        elif isinstance(event, ErasureEscalated):
            self.escalated = tuple(event.services)
        elif isinstance(event, ErasureScheduled):
            self.shred_at = event.shred_at
        elif isinstance(event, SubjectExportOrdered):
            self.expected_services = tuple(event.services)
        elif isinstance(event, ExportPartRecorded):
            self.receipts[event.service] = Receipt(event.service, "completed", event.at)
        elif isinstance(event, ErasureReceiptRecorded):
            self.receipts[event.service] = Receipt(event.service, event.status, event.at)
