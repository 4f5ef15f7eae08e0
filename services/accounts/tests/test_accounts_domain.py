"""The pure accounts model: sign-up rules, rectification, sessions, closure, misuse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.domain import commands
from accounts.domain.age import age_on, check_age
from accounts.domain.errors import (
    AccountNotActive,
    InvalidChange,
    StepUpRequired,
    TermsVersionMismatch,
    TooYoung,
    Unauthenticated,
)
from accounts.domain.model import Account, Terms
from accounts.domain.sessions import Session, SessionPolicy
from contracts.accounts import (
    AccountClosed,
    AccountDetailsChanged,
    AccountRegistered,
    MisuseReported,
    SessionEnded,
    SessionStarted,
    SocialIdentityLinked,
    StepUpCompleted,
)

pytestmark = pytest.mark.unit

TERMS = Terms("2026-01", date(2026, 1, 1))
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = SessionPolicy()


def sign_up(**overrides: object) -> commands.SignUp:
    fields: dict[str, object] = {
        "email": "ada@example.org", "password": "correct horse", "name": "Ada Lovelace",
        "username": "ada", "accept_terms_version": "2026-01",
    }
    fields.update(overrides)
    return commands.SignUp(**fields)  # type: ignore[arg-type]


def registered(**overrides: object) -> Account:
    account = Account.register("acc-1", sign_up(**overrides), "hash", TERMS, TODAY, 16, "member-x")
    account.events.clear()
    return account


def test_acc_1_sign_up_records_registration_with_terms_version() -> None:
    account = Account.register("acc-1", sign_up(), "hash", TERMS, TODAY, 16, "member-x")
    (event,) = account.events
    assert isinstance(event, AccountRegistered)
    assert event.terms_version == "2026-01"
    assert event.password_hash == "hash"


def test_acc_1_old_terms_version_is_refused() -> None:
    with pytest.raises(TermsVersionMismatch):
        Account.register("a", sign_up(accept_terms_version="2025-01"), "h", TERMS, TODAY, 16, "p")


def test_acc_3_under_sixteen_is_refused_and_message_holds_no_date() -> None:
    with pytest.raises(TooYoung) as refused:
        check_age("2010-06-02", TODAY, 16)
    assert "2010" not in str(refused.value)


def test_acc_3_sixteenth_birthday_is_old_enough() -> None:
    check_age("2010-06-01", TODAY, 16)
    assert age_on(date(2010, 6, 2), TODAY) == 15


def test_acc_2_optional_attributes_are_absent_unless_given() -> None:
    event = Account.register("a", sign_up(), "h", TERMS, TODAY, 16, "p").events[0]
    assert isinstance(event, AccountRegistered)
    assert event.gender is None and event.interests is None and event.date_of_birth is None


def test_acc_2_null_removes_an_optional_attribute() -> None:
    account = registered(gender="f", interests=["gardening"])
    changed = account.rectify({"gender": None, "interests": None}, TODAY, 16)
    assert changed == {"gender", "interests"}
    assert account.profile.gender is None
    (event,) = account.events
    assert isinstance(event, AccountDetailsChanged)
    assert event.removed == ["gender", "interests"]


def test_acc_8_required_fields_cannot_be_removed() -> None:
    with pytest.raises(InvalidChange):
        registered().rectify({"email": None}, TODAY, 16)


def test_acc_8_unchanged_values_record_no_event() -> None:
    account = registered()
    assert account.rectify({"name": "Ada Lovelace"}, TODAY, 16) == set()
    assert account.events == []


def test_acc_4_login_does_not_open_step_up() -> None:
    session = registered().start_session("s1", True, NOW, POLICY)
    with pytest.raises(StepUpRequired):
        session.require_step_up(NOW)


def test_acc_4_remembered_session_lasts_thirty_days_short_twelve_hours() -> None:
    account = registered()
    assert account.start_session("s1", True, NOW, POLICY).expires_at == NOW + timedelta(days=30)
    assert account.start_session("s2", False, NOW, POLICY).expires_at == NOW + timedelta(hours=12)
    assert all(isinstance(e, SessionStarted) for e in account.events)


def test_acc_4_step_up_opens_ten_minutes() -> None:
    account = registered()
    session = account.start_session("s1", False, NOW, POLICY)
    opened = account.step_up(session, NOW, POLICY)
    opened.require_step_up(NOW + timedelta(minutes=9))
    with pytest.raises(StepUpRequired):
        opened.require_step_up(NOW + timedelta(minutes=10))
    assert isinstance(account.events[-1], StepUpCompleted)


def test_acc_4_revoked_session_is_unauthenticated() -> None:
    session = Session("s", "a", False, NOW + timedelta(hours=1)).revoke()
    with pytest.raises(Unauthenticated):
        session.require_active(NOW)


def test_acc_6_only_granted_scopes_are_imported() -> None:
    account = registered()
    cmd = commands.LinkSocialIdentity("acc-1", "google", "g-123", ["email"],
                                      {"email": "a@g.example", "name": "Ada L."})
    imported = account.link_social_identity("l1", cmd)
    assert imported == {"email": "a@g.example"}
    (event,) = account.events
    assert isinstance(event, SocialIdentityLinked)
    assert event.granted_scopes == ["email"] and event.imported_name is None


def test_acc_9_closure_ends_sessions_and_shows_pseudonym() -> None:
    account = registered()
    sessions = [account.start_session(f"s{i}", False, NOW, POLICY) for i in range(2)]
    account.events.clear()
    account.close(sessions)
    assert account.public_name == "member-x"
    assert [type(e) for e in account.events] == [SessionEnded, SessionEnded, AccountClosed]
    with pytest.raises(AccountNotActive):
        account.start_session("s3", False, NOW, POLICY)


def test_acc_11_misuse_report_revokes_every_session() -> None:
    account = registered()
    sessions = [account.start_session(f"s{i}", True, NOW, POLICY) for i in range(3)]
    account.events.clear()
    assert account.report_misuse("r1", sessions, None) == 3
    assert isinstance(account.events[-1], MisuseReported)
    assert {e.reason for e in account.events if isinstance(e, SessionEnded)} == {
        "misuse_reported"
    }
