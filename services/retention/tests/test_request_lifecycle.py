"""Unit tests of the privacy-request lifecycle (PRV-5, PRV-7) and the subject fold (RET-2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.privacy import (
    ErasureCancelled,
    ErasureEscalated,
    ErasureReceiptRecorded,
    ErasureScheduled,
    PrivacyRequestReceived,
    PrivacyRequestStatusChanged,
    SubjectExportOrdered,
    SubjectKeyShredded,
)
from retention.domain.requests import InvalidTransition, PrivacyRequest, one_month_after
from retention.domain.subjects import Sighting, fold
from retention.service_layer import tokens

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
SERVICES = ("accounts", "consent", "retention")


def _erasure(verified: bool = True) -> PrivacyRequest:
    return PrivacyRequest.receive("r1", "s1", "erasure", "app", verified, T0, SERVICES)


def test_prv7_due_date_is_one_calendar_month_after_receipt() -> None:
    assert one_month_after(T0) == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert one_month_after(datetime(2025, 12, 15, tzinfo=UTC)) == datetime(2026, 1, 15, tzinfo=UTC)
    assert _erasure().due_at == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)


def test_prv5_verified_erasure_shreds_key_and_goes_in_progress_at_once() -> None:
    req = _erasure()
    assert req.status == "in_progress"
    assert [type(e) for e in req.pending] == [
        PrivacyRequestReceived, PrivacyRequestStatusChanged, SubjectKeyShredded,
    ]
    shred = req.pending[2]
    assert isinstance(shred, SubjectKeyShredded) and shred.services == list(SERVICES)
    assert [r.status for r in req.receipt_list()] == ["pending"] * 3


def test_prv7_unverified_request_waits_as_received_until_staff_verify() -> None:
    req = _erasure(verified=False)
    assert req.status == "received" and len(req.pending) == 1
    req.verify(T0)
    assert req.status == "verified"
    req.start_erasure(SERVICES, T0)
    assert req.status == "in_progress"


def test_prv1_verified_access_request_orders_an_export_from_every_service() -> None:
    req = PrivacyRequest.receive("r2", "s1", "access", "app", True, T0, SERVICES)
    assert req.status == "in_progress"
    order = req.pending[-1]
    assert isinstance(order, SubjectExportOrdered) and order.services == list(SERVICES)
    assert [r.status for r in req.receipt_list()] == ["pending"] * 3


def test_prv2_export_completes_on_the_last_part_and_repeats_change_nothing() -> None:
    req = PrivacyRequest.receive("r3", "s1", "portability", "app", True, T0, SERVICES)
    later = T0 + timedelta(seconds=1)
    assert req.record_part("accounts", later, later)
    assert not req.record_part("accounts", later, later)
    assert not req.record_part("billing", later, later)
    assert req.record_part("consent", later, later) and req.status == "in_progress"
    assert req.record_part("retention", later, later) and req.status == "completed"
    rebuilt = PrivacyRequest.from_history("r3", [(e, later) for e in req.pending])
    assert rebuilt.status == "completed" and set(rebuilt.receipts) == set(SERVICES)


def test_prv7_unverified_export_waits_and_erasure_parts_are_refused() -> None:
    req = PrivacyRequest.receive("r4", "s1", "access", "form", False, T0, SERVICES)
    assert req.status == "received" and not req.record_part("accounts", T0, T0)
    req.verify(T0)
    req.start(SERVICES, T0)
    assert req.status == "in_progress"
    assert not _erasure().record_part("accounts", T0, T0)


def test_prv5_request_completes_only_when_every_receipt_completed() -> None:
    req = _erasure()
    later = T0 + timedelta(seconds=1)
    assert req.record_receipt("accounts", "completed", later, later)
    assert req.record_receipt("consent", "failed", later, later)
    assert req.status == "in_progress"
    assert req.record_receipt("retention", "completed", later, later)
    assert req.status == "in_progress"
    assert req.record_receipt("consent", "completed", later, later)
    assert req.status == "completed" and req.ended_at == later
    assert [r.status for r in req.receipt_list()] == ["completed"] * 3


def test_prv5_duplicate_and_unexpected_receipts_change_nothing() -> None:
    req = _erasure()
    req.pending.clear()
    assert req.record_receipt("accounts", "completed", T0, T0)
    assert not req.record_receipt("accounts", "completed", T0, T0)
    assert not req.record_receipt("billing", "completed", T0, T0)
    assert len(req.pending) == 1 and isinstance(req.pending[0], ErasureReceiptRecorded)


def test_prv7_ended_request_cannot_move_again() -> None:
    req = _erasure()
    req.refuse("legal hold", T0)
    assert req.status == "refused" and req.reason == "legal hold"
    with pytest.raises(InvalidTransition):
        req.refuse("again", T0)
    with pytest.raises(InvalidTransition):
        req.verify(T0)


def test_prv7_request_rebuilt_from_history_equals_the_recorded_one() -> None:
    req = _erasure()
    req.record_receipt("accounts", "completed", T0, T0)
    history = [(e, T0) for e in req.pending]
    again = PrivacyRequest.from_history("r1", history)
    assert (again.status, again.subject_id, again.expected_services, again.receipts) == (
        req.status, req.subject_id, req.expected_services, req.receipts,
    )
    assert again.version == len(history) and again.pending == []


def test_prv7_status_token_is_stored_hashed_and_expires_30_days_after_the_end() -> None:
    token, stored = tokens.new_token()
    assert token.startswith("prs_") and token.encode() not in stored
    assert tokens.token_valid(token, stored, None, T0, 30)
    assert tokens.token_valid(token, stored, T0, T0 + timedelta(days=29), 30)
    assert not tokens.token_valid(token, stored, T0, T0 + timedelta(days=31), 30)
    assert not tokens.token_valid(token + "x", stored, None, T0, 30)


def test_ret2_fold_merges_sightings_per_subject_category_and_service() -> None:
    t1 = T0 + timedelta(hours=1)
    got = fold([
        Sighting("s1", "accounts", frozenset({"contact", "identity"}), t1),
        Sighting("s1", "accounts", frozenset({"contact"}), T0),
        Sighting("s2", "listings", frozenset({"listings"}), T0),
    ])
    by_key = {(h.subject_id, h.category, h.service): h for h in got}
    contact = by_key[("s1", "contact", "accounts")]
    assert (contact.first_seen, contact.last_seen, contact.events) == (T0, t1, 2)
    assert by_key[("s1", "identity", "accounts")].events == 1
    assert len(got) == 3


def test_prv5_missing_services_are_asked_again_and_escalated_once() -> None:
    req = _erasure()
    later = T0 + timedelta(seconds=30)
    req.record_receipt("accounts", "completed", later, later)
    req.record_receipt("consent", "failed", later, later)
    req.pending.clear()
    assert req.retry(later, escalate_after=2)
    [order] = req.pending
    assert isinstance(order, SubjectKeyShredded) and order.services == ["consent", "retention"]
    assert req.expected_services == SERVICES and req.orders == 2 and not req.escalated
    assert req.retry(later, escalate_after=2)
    escalation, again = req.pending[1:]
    assert isinstance(escalation, ErasureEscalated) and escalation.attempts == 2
    assert req.escalated == ("consent", "retention") and isinstance(again, SubjectKeyShredded)
    assert req.retry(later, escalate_after=2)
    assert sum(isinstance(e, ErasureEscalated) for e in req.pending) == 1
    rebuilt = PrivacyRequest.from_history("r1", [(e, later) for e in [*_erasure().pending,
                                                                      *req.pending]])
    assert rebuilt.orders == 4 and rebuilt.expected_services == SERVICES
    for service in ("consent", "retention"):
        req.record_receipt(service, "completed", later, later)
    assert req.status == "completed" and not req.retry(later, escalate_after=2)


def test_prv5_grace_a_verified_erasure_is_scheduled_and_can_be_cancelled_until_shredded() -> None:
    grace = timedelta(days=7)
    req = PrivacyRequest.receive("r1", "s1", "erasure", "app", True, T0, SERVICES,
                                 grace=grace)
    assert req.status == "verified" and req.shred_at == T0 + grace
    assert [type(e) for e in req.pending] == [PrivacyRequestReceived, ErasureScheduled]
    assert req.cancellable
    req.cancel("subject", T0 + timedelta(days=1))
    assert req.status == "refused" and req.reason == "cancelled by the subject"
    assert isinstance(req.pending[-2], ErasureCancelled)
    assert not any(isinstance(e, SubjectKeyShredded) for e in req.pending)
    with pytest.raises(InvalidTransition):
        req.cancel("subject", T0 + timedelta(days=2))  # once ended, no second cancel


def test_prv5_grace_ends_with_the_shredding_after_which_nothing_is_cancelled() -> None:
    req = PrivacyRequest.receive("r1", "s1", "erasure", "app", True, T0, SERVICES,
                                 grace=timedelta(seconds=5))
    req.start(SERVICES, T0 + timedelta(seconds=5))
    assert req.status == "in_progress" and isinstance(req.pending[-1], SubjectKeyShredded)
    assert not req.cancellable
    with pytest.raises(InvalidTransition):
        req.cancel("staff", T0 + timedelta(seconds=6))
    rebuilt = PrivacyRequest.from_history("r1", [(e, T0) for e in req.pending])
    assert rebuilt.shred_at == T0 + timedelta(seconds=5) and rebuilt.status == "in_progress"


def test_prv5_no_window_keeps_api_timing_and_other_types_are_not_cancelled() -> None:
    assert _erasure().status == "in_progress"  # grace 0: shredded at once
    access = PrivacyRequest.receive("r2", "s1", "access", "app", True, T0, SERVICES,
                                    grace=timedelta(days=7))
    assert access.status == "in_progress" and access.shred_at is None
    with pytest.raises(InvalidTransition):
        access.cancel("subject", T0)
